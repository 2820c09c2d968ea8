"""`inat-cnn report`: a sweep's results as one offline HTML page plus PNG copies of its plots."""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .. import atomic
from ..errors import UserError
from . import html as h
from .ensemble_section import ensemble_section
from .feature_section import feature_section
from .figures import to_plotly
from .importance import MIN_TRIALS, Importance, sweep_importance
from .plotdata import PlotData, collect_plots
from .png import save_png
from .records import SweepResult, TrialRecord, format_value

_TITLES = {"parallel_coordinates": "Parallel coordinates", "parameter_importance": "Parameter importance",
           "learning_curves": "Learning curves", "tuning_ratio": "Accuracy vs tuning ratio"}


@dataclass
class ReportOutput:
    html: Path
    pngs: dict[str, Path] = field(default_factory=dict)
    importances: list[Importance] = field(default_factory=list)


def png_folder(out: Path) -> Path:
    """Where the PNG copies go: ``<stem>_plots/`` beside the HTML file."""
    return out.parent / f"{out.stem}_plots"


def write_report(result: SweepResult, out: Path) -> ReportOutput:
    """Write the HTML report to ``out`` (atomically) and its plots as PNG beside it."""
    out = Path(out)
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    importances = sweep_importance(result)
    plots = collect_plots(result, importances)
    pngs = {name: save_png(data, png_folder(out) / f"{name}.png") for name, data in plots.items()}
    with tempfile.TemporaryDirectory(prefix="inat-report-") as scratch:
        text = render_report(result, plots, importances, best_viz_files(result.best(), Path(scratch)))
    atomic.write_text(out, text)
    return ReportOutput(html=out, pngs=pngs, importances=importances)


def _check_replaceable(out: Path) -> None:
    """--out may name a new file or an earlier report, nothing else (not a folder, not a database)."""
    if out.is_dir():
        raise UserError(f"--out {out} is a folder: pass the path of the HTML file to write")
    if out.exists():
        with open(out, "rb") as fh:
            head = fh.read(512)
        if not (head.startswith(b"<!DOCTYPE html>") and b"<title>Sweep " in head):
            raise UserError(f"refusing to replace {out}: it is not a report written by inat-cnn. Nothing was "
                            "changed; choose another --out")


def best_viz_files(best: TrialRecord | None, scratch: Path) -> list[Path]:
    """The best trial's viz/*.png: from its folder, or downloaded from its W&B run into ``scratch``."""
    if best is None:
        return []
    files = best.viz_files()
    if not files and best.handle is not None:
        from .wandb_source import download_viz

        download_viz(best.handle, scratch / "files", scratch / "viz")
        files = sorted((scratch / "viz").glob("*.png"))
    return files


def render_report(result: SweepResult, plots: dict[str, PlotData], importances: list[Importance],
                  viz_files: list[Path] | None = None) -> str:
    """The report page as a string."""
    sections = [_header(result), h.section("Leaderboard", _leaderboard(result), anchor="leaderboard")]
    for name in _TITLES:
        if name in plots:
            parts = [h.figure_div(to_plotly(plots[name]), f"plot-{name}")]
            if name == "parameter_importance":
                parts.append(_importance_table(importances))
            sections.append(h.section(_TITLES[name], *parts, anchor=name))
        elif name != "tuning_ratio":
            sections.append(h.section(_TITLES[name], h.note(_missing_reason(name, result)), anchor=name))
    sections.append(ensemble_section(result))
    sections.append(feature_section(result))
    sections.append(_visualizations(result.best(), viz_files or []))
    return h.page(f"Sweep {result.sweep_id}: report", sections)


def _header(result: SweepResult) -> str:
    counts = ", ".join(f"{n} {state}" for state, n in result.counts().items() if n)
    best = result.best()
    best_line = (f"Best: <b>{h.esc(best.name)}</b> with {h.esc(result.metric)} = {format_value(best.value)}"
                 f" (test accuracy {format_value(best.test_accuracy)})" if best else "No trial has finished yet.")
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<h1>Sweep {h.esc(result.sweep_id)}</h1>\n<p class=\"muted\">backend {h.esc(result.backend)}"
            f"{' · ' + h.esc(result.source) if result.source else ''} · metric {h.esc(result.metric)} "
            f"({h.esc(result.goal)}) · {len(result.trials)} trials: {h.esc(counts or 'none')} · generated {stamp}</p>"
            f"\n<p>{best_line}</p>")


def _leaderboard(result: SweepResult) -> str:
    trials = result.leaderboard()
    if not trials:
        return h.note("This sweep has no trials yet.")
    headers = ["rank", "trial", "state", *result.swept, f"best {result.metric}", "test accuracy", "epochs",
               "duration", "note"]
    ranks = {t.number: i for i, t in enumerate(result.ranked(), start=1)}
    best = result.best()
    rows, classes = [], []
    for trial in trials:
        state = h.Raw(f'<span class="state-{h.esc(trial.state)}">{h.esc(trial.state)}</span>')
        params = [format_value(trial.params.get(name, trial.config.get(name))) for name in result.swept]
        rows.append([ranks.get(trial.number, ""), trial.name, state, *params, format_value(trial.value),
                     format_value(trial.test_accuracy), format_value(trial.epochs_run), _duration(trial.duration_s),
                     trial.fail_reason or trial.note])
        classes.append("best" if best is not None and trial.number == best.number else "")
    return h.table(headers, rows, classes)


def _importance_table(importances: list[Importance]) -> str:
    rows = [[r.name, f"{r.importance:.3f}", _signed(r.correlation)] for r in importances]
    return ("<p class=\"muted\">Random-forest importance (scikit-learn, 200 trees; sums to 1) and linear "
            "correlation with the metric; categorical parameters are one-hot encoded.</p>\n"
            + h.table(["parameter", "importance", "correlation"], rows))


def _missing_reason(name: str, result: SweepResult) -> str:
    with_value = len(result.ranked(("finished", "pruned")))
    if name == "parameter_importance" and with_value and (with_value < MIN_TRIALS or not result.swept):
        return (f"Parameter importance needs at least {MIN_TRIALS} trials with a value and a swept "
                f"parameter (this sweep has {with_value} and {len(result.swept)}).")
    return "No trial has reported a metric value yet."


def _visualizations(best: TrialRecord | None, files: list[Path]) -> str:
    if not files:
        text = "The best trial has no visualizations (viz/*.png)." if best else "No finished trial yet."
        return h.section("Best trial's visualizations", h.note(text), anchor="visualizations")
    images = "".join(h.image_figure(path, path.stem.replace("_", " ")) for path in files)
    return h.section(f"Best trial's visualizations ({best.name})", f'<div class="viz">{images}</div>',
                     anchor="visualizations")


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{round(value, 3) or 0.0:+.3f}"  # no "-0.000"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else (f"{minutes}m {secs:02d}s" if minutes else f"{secs}s")
