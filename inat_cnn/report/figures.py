"""Plotly figures for the HTML report, one per PlotData kind."""

from __future__ import annotations

from typing import Any

from .plotdata import CurveData, ImportanceData, ParallelData, PlotData

_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
           "#bcbd22", "#17becf")


def to_plotly(data: PlotData) -> Any:
    """The plotly Figure drawing ``data``."""
    if isinstance(data, ParallelData):
        return parallel_figure(data)
    if isinstance(data, CurveData):
        return curve_figure(data)
    if isinstance(data, ImportanceData):
        return importance_figure(data)
    raise TypeError(f"no plotly renderer for {type(data).__name__}")


def parallel_figure(data: ParallelData) -> Any:
    import plotly.graph_objects as go

    dimensions = []
    for axis in data.axes:
        dim: dict[str, Any] = {"label": axis.label, "values": axis.values}
        if axis.tickvals is not None:
            dim.update(tickvals=axis.tickvals, ticktext=axis.ticktext)
            dim["range"] = [min(axis.tickvals) - 0.25, max(axis.tickvals) + 0.25]
        dimensions.append(dim)
    line = {"color": data.color, "colorscale": "Viridis", "showscale": True,
            "colorbar": {"title": {"text": data.color_label}}}
    fig = go.Figure(go.Parcoords(line=line, dimensions=dimensions))
    fig.update_layout(title=data.title, height=460, margin={"l": 80, "r": 80, "t": 90, "b": 40})
    return fig


def curve_figure(data: CurveData) -> Any:
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=len(data.panels), horizontal_spacing=0.08)
    names = sorted({s.name for p in data.panels for s in p.series})
    colors = {name: _COLORS[i % len(_COLORS)] for i, name in enumerate(names)}
    for col, panel in enumerate(data.panels, start=1):
        for series in panel.series:
            fig.add_scatter(x=series.x, y=series.y, name=series.name, mode="lines+markers",
                            line={"color": colors[series.name]}, legendgroup=series.name,
                            showlegend=col == 1, hovertext=series.hover or None, row=1, col=col)
        fig.update_xaxes(title_text=panel.xlabel, row=1, col=col)
        fig.update_yaxes(title_text=panel.ylabel, row=1, col=col)
    fig.update_layout(title=data.title, height=420, margin={"t": 70})
    return fig


def importance_figure(data: ImportanceData) -> Any:
    from plotly.subplots import make_subplots

    rows = list(reversed(data.rows))
    names = [r.name for r in rows]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, subplot_titles=("importance", "correlation"))
    fig.add_bar(x=[r.importance for r in rows], y=names, orientation="h", marker_color="#1f77b4",
                showlegend=False, row=1, col=1)
    correlations = [r.correlation or 0.0 for r in rows]
    fig.add_bar(x=correlations, y=names, orientation="h", showlegend=False, row=1, col=2,
                marker_color=["#2ca02c" if c >= 0 else "#d62728" for c in correlations])
    fig.update_xaxes(range=[-1, 1], row=1, col=2)
    fig.update_layout(title=data.title, height=max(300, 40 + 28 * len(rows)), margin={"l": 160, "t": 80})
    return fig
