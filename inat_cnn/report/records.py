"""A sweep's results as plain records, whichever backend produced them.

No Optuna, no wandb, no Keras; the only files read here are a trial folder's metrics.json and
history.csv (``read_json``, ``read_history``). ``results.py`` (local Optuna storage) and
``wandb_source.py`` (wandb.Api) fill these; the report, importance, export and
ensemble code only ever read them. What a trial measured is its ``TrialOutcome``.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..outcome import STATE_ORDER, TrialOutcome
from ..spec.sweep_spec import SweepSpec

#: Trial states in the order the leaderboard lists them (one order for every listing).
STATES = STATE_ORDER


@dataclass
class TrialRecord:
    """One trial (an Optuna trial or a W&B run) as the sweep lists it: where it stands in the sweep, and
    its outcome (what it measured: the trial folder's metrics.json, else what the backend stored)."""

    number: int
    name: str
    state: str
    params: dict[str, Any]
    value: float | None = None
    duration_s: float | None = None
    curve: dict[int, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    outcome: TrialOutcome = field(default_factory=TrialOutcome)
    trial_dir: Path | None = None
    handle: Any = field(default=None, repr=False, compare=False)
    note: str = ""  # how the engine ended it: the rung that pruned it, the target it reached

    @property
    def test_accuracy(self) -> float | None:
        return self.outcome.test_accuracy

    @property
    def epochs_run(self) -> int | None:
        """Whole epochs trained: the outcome's count, else the epochs reported so far."""
        return self.outcome.epochs_run or len(self.curve) or None

    @property
    def fail_reason(self) -> str | None:
        return self.outcome.fail_reason

    @property
    def wandb_run_id(self) -> str | None:
        return self.outcome.wandb_run_id

    @property
    def metrics(self) -> dict[str, Any]:
        """The outcome as metrics.json writes it."""
        return self.outcome.to_json()

    @property
    def has_value(self) -> bool:
        return self.value is not None and not math.isnan(self.value)

    @property
    def model_path(self) -> Path | None:
        """The best epoch's checkpoint, when this trial left one on disk."""
        if self.trial_dir is None:
            return None
        path = self.trial_dir / "model.keras"
        return path if path.is_file() else None

    def viz_files(self) -> list[Path]:
        """The trial's visualizations (viz/*.png), sorted by name."""
        if self.trial_dir is None or not (self.trial_dir / "viz").is_dir():
            return []
        return sorted((self.trial_dir / "viz").glob("*.png"))

    def history(self) -> list[dict[str, float]]:
        """Rows of history.csv (one per epoch) as floats; empty when there is none."""
        if self.trial_dir is None:
            return []
        return read_history(self.trial_dir / "history.csv")

    def metric_curve(self, metric: str) -> dict[int, float]:
        """Epoch → metric from history.csv when it has the column, else the reported values."""
        rows = self.history()
        if rows and metric in rows[0]:
            # Row order, 1-based, like the engine's reports (Keras' CSVLogger counts from 0).
            return {i + 1: row[metric] for i, row in enumerate(rows) if not math.isnan(row[metric])}
        return dict(sorted(self.curve.items()))


@dataclass
class SweepResult:
    """Everything a report or export needs to know about one sweep."""

    sweep_id: str
    backend: str
    metric: str
    goal: str
    spec: dict[str, Any]
    trials: list[TrialRecord]
    swept: list[str]
    source: str = ""
    data_root: str | None = None

    def ranked(self, states: tuple[str, ...] = ("finished",)) -> list[TrialRecord]:
        """Trials in ``states`` that have a value, best first."""
        pool = [t for t in self.trials if t.state in states and t.has_value]
        return sorted(pool, key=lambda t: (-t.value if self.goal == "maximize" else t.value, t.number))

    def best(self) -> TrialRecord | None:
        ranked = self.ranked()
        return ranked[0] if ranked else None

    def leaderboard(self) -> list[TrialRecord]:
        """Every trial: finished then pruned by value, then running, waiting, failed."""
        ordered: list[TrialRecord] = []
        for state in STATES:
            with_value = self.ranked((state,))
            rest = sorted((t for t in self.trials if t.state == state and not t.has_value),
                          key=lambda t: t.number)
            ordered += with_value + rest
        ordered += [t for t in self.trials if t.state not in STATES]
        return ordered

    def counts(self) -> dict[str, int]:
        counts = {state: 0 for state in STATES}
        for trial in self.trials:
            counts[trial.state] = counts.get(trial.state, 0) + 1
        return counts

    def varies(self, name: str) -> bool:
        """Whether the sweep varies ``name`` (in its spec, or across the trials' configs)."""
        if name in self.swept:
            return True
        seen = {json.dumps(t.config.get(name), sort_keys=True) for t in self.trials if name in t.config}
        return len(seen) > 1


def swept_parameters(spec: dict[str, Any], trials: list[TrialRecord]) -> list[str]:
    """The parameters the sweep varies, as its spec says (SweepSpec.swept).

    Without a spec that reads as one, every parameter recorded on a trial.
    """
    try:
        return SweepSpec.model_validate(spec).swept()
    except (ValidationError, TypeError, ValueError):
        names: list[str] = []
        for trial in trials:
            names += [n for n in trial.params if n not in names]
        return names


def best_of(values: list[float], goal: str) -> float | None:
    """The best of ``values`` (NaNs ignored) for ``goal``, None when there is none."""
    clean = [v for v in values if v is not None and not math.isnan(v)]
    if not clean:
        return None
    return max(clean) if goal == "maximize" else min(clean)


def read_history(path: Path) -> list[dict[str, float]]:
    """history.csv as a list of float rows; unreadable cells become NaN."""
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return [{key: _to_float(value) for key, value in row.items() if key} for row in csv.DictReader(handle)]


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or {} when the file is missing or not an object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def format_value(value: Any, missing: str = "", thousands: bool = False) -> str:
    """A cell value for reports: 4 significant digits, lower-case booleans, optional 12,345 grouping."""
    if value is None:
        return missing
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.4g}"
    if thousands and isinstance(value, int) and abs(value) >= 10_000:
        return f"{value:,}"
    return str(value)
