"""The files of one trial folder: config.yaml, metrics.json, history.csv, error.log."""

from __future__ import annotations

import math
import secrets
import time
from pathlib import Path
from typing import Any

import yaml

from .. import atomic
from ..errors import UserError

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


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def write_metrics(out_dir: Path, metrics: dict[str, Any]) -> None:
    atomic.write_json(out_dir / "metrics.json", _json_safe(metrics), indent=2)


def write_history(out_dir: Path, history: list[dict[str, Any]]) -> None:
    atomic.write_csv(out_dir / "history.csv", HISTORY_FIELDS, history)


def train_throughput(history: list[dict[str, Any]]) -> float | None:
    """Median training images/s, leaving out the first epoch (graph tracing) when there are others."""
    rates = sorted(r["images_per_s"] for r in history[1:] or history)
    return rates[len(rates) // 2] if rates else None
