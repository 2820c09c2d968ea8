"""The files of one trial folder: config.yaml, metrics.json (its outcome), history.csv, error.log."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from typing import Any

import yaml

from .. import atomic
from ..errors import UserError
from ..outcome import TrialOutcome

HISTORY_FIELDS = ("epoch", "phase", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_time_s",
                  "images_per_s")


def default_out_dir(runs: Path) -> Path:
    """``<workspace>/runs/single/<timestamp>-<short id>``."""
    return runs / "single" / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def prepare_out_dir(out_dir: Path) -> Path:
    """Create the trial folder; never write into one that already has files."""
    out_dir = Path(out_dir).expanduser().resolve()
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UserError(f"output folder {out_dir} already exists and is not empty; choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir


def write_config(out_dir: Path, resolved: dict[str, Any]) -> None:
    atomic.write_text(out_dir / "config.yaml", yaml.safe_dump(resolved, sort_keys=False))


def write_metrics(out_dir: Path, outcome: TrialOutcome) -> None:
    """The trial's outcome as metrics.json (temp file + os.replace)."""
    atomic.write_json(out_dir / "metrics.json", outcome.to_json(), indent=2)


def read_outcome(out_dir: Path) -> TrialOutcome:
    """The outcome metrics.json holds (without the history, which history.csv holds)."""
    try:
        body = json.loads((Path(out_dir) / "metrics.json").read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"{out_dir}: no readable metrics.json ({err})") from None
    if not isinstance(body, dict):
        raise UserError(f"{out_dir}/metrics.json is not a JSON object")
    return TrialOutcome.from_json(body)


def write_history(out_dir: Path, history: list[dict[str, Any]]) -> None:
    atomic.write_csv(out_dir / "history.csv", HISTORY_FIELDS, history)
