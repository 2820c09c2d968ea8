"""The base rate: random configurations of the space trained to the end once, their curves cached in a JSON.

Each configuration is drawn the way W&B's random search draws it (``ttt_common.sample_random``, seeded) and
trained by the engine's own trial function (``run_trial``: the decode-once cache, the same model, optimizer,
epochs and validation split as the "ours" arm), all in one worker process so that the recording does not pay
a process start per trial (the curves are what matters here, not the time). The JSON is rewritten after every
trial; a cut-off recording continues where it stopped. Everything the target choice and the replays need is
in it: parameters, val_accuracy and epoch time per epoch."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
from ttt_common import DIGITS, load_average, quiet_env, read_json, sample_random, with_epochs, write_json


def record_curves(space: dict[str, Any], trials: int, epochs: int | None, data: Path, workdir: Path,
                  source: Path | None, source_id: str, out: Path, seed: int = 0) -> dict[str, Any]:
    """Train configurations until ``out`` holds ``trials`` of them (in a worker that imports ``source``)."""
    job = {"space": with_epochs(space, epochs), "trials": trials, "data": str(data), "workdir": str(workdir),
           "source": source_id, "out": str(out), "seed": seed}
    subprocess.run([sys.executable, __file__, json.dumps(job)], env=quiet_env(source), check=True, cwd=workdir)
    return read_json(out)


def _worker(job: dict[str, Any]) -> None:
    from inat_cnn.errors import TrialFailed
    from inat_cnn.training.trial import run_trial

    out = Path(job["out"])
    curves = read_json(out) or {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "source": job["source"],
                                "data": DIGITS, "spec": job["space"], "seed": job["seed"], "trials": [],
                                "load_average": []}
    rng = random.Random(job["seed"])
    draws = [sample_random(job["space"]["parameters"], rng) for _ in range(job["trials"])]
    workspace = Path(job["workdir"]) / "curves_ws"
    for index in range(len(curves["trials"]), job["trials"]):
        config = {**draws[index], "viz": False}
        started = time.perf_counter()
        try:
            result = run_trial(config, job["data"], workspace / "runs" / f"trial-{index:04d}", workspace=workspace,
                               wandb_mode="offline")
            state, history = "COMPLETE", result.history
        except TrialFailed as err:  # a diverging configuration: recorded, it reaches no target
            state, history = "FAIL", _failed_history(workspace / "runs" / f"trial-{index:04d}")
            print(f"trial {index} failed: {err}", flush=True)
        curves["trials"].append({
            "number": index, "state": state, "params": draws[index],
            "val_accuracy": [row.get("val_accuracy") for row in history],
            "epoch_time_s": [round(row.get("epoch_time_s", 0.0), 3) for row in history],
            "trial_s": round(time.perf_counter() - started, 2)})
        curves["load_average"].append(load_average())
        write_json(out, curves)
        best = max((v for v in curves["trials"][-1]["val_accuracy"] if v is not None), default=0.0)
        print(f"trial {index}: {state} best {best:.4f} in {time.perf_counter() - started:.1f} s", flush=True)


def _failed_history(folder: Path) -> list[dict[str, Any]]:
    import csv

    path = folder / "history.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return [{"val_accuracy": float(r["val_accuracy"]) if r.get("val_accuracy") else None,
                 "epoch_time_s": float(r["epoch_time_s"] or 0)} for r in csv.DictReader(f)]


def truncated(curves: dict[str, Any], epochs: int | None) -> dict[str, Any]:
    """The curves as a run of ``epochs`` epochs would have seen them (None: as recorded)."""
    if not epochs:
        return curves
    cut = [{**t, "val_accuracy": t["val_accuracy"][:epochs], "epoch_time_s": t["epoch_time_s"][:epochs]}
           for t in curves["trials"]]
    return {**curves, "trials": cut}


def best_of(curve: list[float | None]) -> float:
    values = [v for v in curve if v is not None]
    return max(values) if values else 0.0


def base_rates(curves: dict[str, Any], targets: list[float]) -> list[dict[str, Any]]:
    """Share of the random configurations whose best epoch reaches each target (failed ones count as not)."""
    bests = [best_of(t["val_accuracy"]) for t in curves["trials"]]
    rows = []
    for target in targets:
        hits = sum(b >= target - 1e-9 for b in bests)
        rows.append({"target": target, "reached": hits, "of": len(bests),
                     "rate": hits / len(bests) if bests else 0.0})
    return rows


def choose_target(curves: dict[str, Any], low: float = 0.10, high: float = 0.20) -> float:
    """The lowest observed best value whose base rate lies in [low, high] (else the one nearest to 0.15), rounded
    down to 4 decimals (val_accuracy is a float32 k/n: a target rounded up would miss the very value)."""
    bests = sorted({math.floor(best_of(t["val_accuracy"]) * 1e4) / 1e4 for t in curves["trials"]})
    rows = base_rates(curves, bests)
    inside = [r for r in rows if low <= r["rate"] <= high]
    chosen = inside[0] if inside else min(rows, key=lambda r: abs(r["rate"] - (low + high) / 2))
    return chosen["target"]


if __name__ == "__main__":
    _worker(json.loads(sys.argv[1]))
