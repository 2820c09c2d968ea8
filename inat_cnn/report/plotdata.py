"""What each report plot shows, as plain data; plotly (figures.py) and matplotlib (png.py) draw it.

Pure: builds numbers and labels from a SweepResult, no plotting library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .importance import Importance
from .records import SweepResult

#: Numeric axes spanning at least this ratio (all positive) are drawn as log10.
LOG_SPAN = 100.0


@dataclass
class Axis:
    label: str
    values: list[float]
    tickvals: list[float] | None = None
    ticktext: list[str] | None = None


@dataclass
class ParallelData:
    title: str
    axes: list[Axis]
    color: list[float]
    color_label: str
    trial_names: list[str]


@dataclass
class Series:
    name: str
    x: list[float]
    y: list[float]
    hover: list[str] = field(default_factory=list)


@dataclass
class Panel:
    xlabel: str
    ylabel: str
    series: list[Series]


@dataclass
class CurveData:
    title: str
    panels: list[Panel]


@dataclass
class ImportanceData:
    title: str
    rows: list[Importance]


PlotData = ParallelData | CurveData | ImportanceData


def parallel_data(result: SweepResult) -> ParallelData | None:
    """Parallel coordinates over the swept parameters and the metric (finished + pruned trials)."""
    trials = result.ranked(("finished", "pruned"))
    if not trials:
        return None
    axes = [_axis(name, [t.params.get(name, t.config.get(name)) for t in trials]) for name in result.swept]
    values = [float(t.value) for t in trials]
    axes.append(Axis(result.metric, values))
    return ParallelData(title=f"Parallel coordinates: swept parameters vs {result.metric}", axes=axes,
                        color=values, color_label=result.metric, trial_names=[t.name for t in trials])


def _axis(name: str, raw: list) -> Axis:
    numbers = [v for v in raw if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if len(numbers) == len(raw) and numbers:
        if min(numbers) > 0 and max(numbers) / min(numbers) >= LOG_SPAN:
            return Axis(f"log10({name})", [math.log10(v) for v in numbers])
        return Axis(name, [float(v) for v in numbers])
    categories = sorted({str(v) for v in raw})
    codes = {c: float(i) for i, c in enumerate(categories)}
    return Axis(name, [codes[str(v)] for v in raw], tickvals=list(codes.values()), ticktext=categories)


def learning_curve_data(result: SweepResult, top: int = 5) -> CurveData | None:
    """The metric per epoch for the ``top`` best trials."""
    series = []
    for rank, trial in enumerate(result.ranked(("finished", "pruned"))[:top], start=1):
        curve = trial.metric_curve(result.metric)
        if curve:
            series.append(Series(f"#{rank} {trial.name}", [float(e) for e in curve], list(curve.values())))
    if not series:
        return None
    return CurveData(title=f"Learning curves of the top {len(series)} trials",
                     panels=[Panel("epoch", result.metric, series)])


def tuning_ratio_data(result: SweepResult) -> CurveData | None:
    """Metric vs layer and parameter tuning ratio, one line per backbone (sweeps over trainable_layers)."""
    if not result.varies("trainable_layers"):
        return None
    # The study's question is accuracy: plot the sweep metric when it is one, else val_accuracy.
    ylabel = result.metric if "accuracy" in result.metric else "val_accuracy"
    by_backbone: dict[str, list] = {}
    for trial in result.ranked(("finished",)):
        layer, param = trial.metrics.get("layer_tuning_ratio"), trial.metrics.get("parameter_tuning_ratio")
        accuracy = trial.value if ylabel == result.metric else trial.metrics.get(ylabel)
        if all(isinstance(v, (int, float)) for v in (layer, param, accuracy)):
            backbone = str(trial.config.get("backbone", trial.params.get("backbone", "model")))
            by_backbone.setdefault(backbone, []).append((float(layer), float(param), float(accuracy), trial))
    if not by_backbone:
        return None
    panels = []
    for index, xlabel in ((0, "layer tuning ratio"), (1, "parameter tuning ratio")):
        series = []
        for backbone, points in sorted(by_backbone.items()):
            points = sorted(points, key=lambda p: p[index])
            series.append(Series(backbone, [p[index] for p in points], [p[2] for p in points],
                                 [f"{p[3].name}: trainable_layers={p[3].config.get('trainable_layers')}"
                                  for p in points]))
        panels.append(Panel(xlabel, ylabel, series))
    return CurveData(title=f"{ylabel} vs share of the backbone fine-tuned, per backbone", panels=panels)


def importance_data(rows: list[Importance], metric: str, top: int = 20) -> ImportanceData | None:
    if not rows:
        return None
    return ImportanceData(title=f"Parameter importance with respect to {metric}", rows=rows[:top])


def collect_plots(result: SweepResult, importances: list[Importance]) -> dict[str, PlotData]:
    """Every plot this sweep supports, by file-friendly name, in report order."""
    candidates = {
        "parallel_coordinates": parallel_data(result),
        "parameter_importance": importance_data(importances, result.metric),
        "learning_curves": learning_curve_data(result),
        "tuning_ratio": tuning_ratio_data(result),
    }
    return {name: data for name, data in candidates.items() if data is not None}
