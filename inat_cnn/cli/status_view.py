"""Rich tables of a sweep's trials (shared by `sweep status`, `sweep run` and `demo`)."""

from __future__ import annotations

from typing import Any

from rich.table import Table


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def trials_table(rows: list[Any], metric: str, title: str | None = None, limit: int | None = None) -> Table:
    """Trial, state, params, metric, test accuracy, epochs, duration; rows come best first."""
    table = Table(title=title, header_style="bold", show_lines=False)
    for col in ("trial", "state", "params", metric, "test_acc", "epochs", "duration"):
        table.add_column(col, overflow="fold", no_wrap=col != "params")
    table.add_column("note", overflow="ellipsis", max_width=48, no_wrap=True)
    colours = {"finished": "green", "running": "cyan", "waiting": "blue", "pruned": "yellow", "failed": "red"}
    for r in rows[:limit]:
        table.add_row(
            str(r.number), f"[{colours[r.state]}]{r.state}[/]",
            " ".join(f"{k}={_fmt(v)}" for k, v in r.params.items()),
            _fmt(r.value) if r.value is not None else "-",
            _fmt(r.test_accuracy) if r.test_accuracy is not None else "-",
            str(r.epochs), f"{r.duration_s:.0f}s" if r.duration_s is not None else "-", r.note)
    return table
