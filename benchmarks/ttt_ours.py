"""The "ours" arm: the local engine through its real command line, `inat-cnn sweep run` (one agent) on a copy of
the space file with the benchmark's target (and seed, when the CLI takes one), in a fresh workspace (so the
decode-once cache is built inside the measured time). Its time to target is the wall time from launching the
command until it exits after the sweep stopped on the target: what a user waits for.

Where the time went is read back from the workspace (``ttt_records``): each trial's claim to first training
step (start-up), its epochs (the first one apart: tracing), the epochs of pruned trials, what follows training
(test evaluation, figures, checkpoint, wandb close), and the rest (CLI and agent start, between trials)."""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import time
from pathlib import Path
from typing import Any

from ttt_common import RUN_DIR, cli, write_sweep
from ttt_records import read_sweep

_FLAGS: dict[str, bool] = {}


def supports_seed(env: dict[str, str]) -> bool:
    """Whether `sweep run` takes --seed (a seeded search; older engines draw unseeded)."""
    if "seed" not in _FLAGS:
        shown = subprocess.run([*cli(), "sweep", "run", "--help"], env={**env, "COLUMNS": "200"},
                               capture_output=True, text=True, cwd=RUN_DIR).stdout
        _FLAGS["seed"] = "--seed" in shown
    return _FLAGS["seed"]


def run_ours(space: dict[str, Any], seed: int, target: float, data: Path, folder: Path, env: dict[str, str],
             timeout_s: float, agents: int = 1) -> dict[str, Any]:
    spec = json.loads(json.dumps(space))
    spec["name"] = f"{spec['name']}-s{seed}"
    spec["metric"]["target"] = target
    shutil.rmtree(folder, ignore_errors=True)
    sweep_file = write_sweep(folder / "sweep.yaml", spec)
    workspace = folder / "ws"
    argv = [*cli(), "sweep", "run", str(sweep_file), "--data", str(data), "--agents", str(agents),
            "--workspace", str(workspace)] + (["--seed", str(seed)] if supports_seed(env) else [])
    started = time.time()
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout_s, cwd=folder)
        code, tail = done.returncode, (done.stdout + done.stderr)[-1500:]
    except subprocess.TimeoutExpired as err:
        code, tail = "timeout", str(err.stdout or "")[-1500:]
    ended = time.time()
    sweep = read_sweep(workspace)
    result = summarize(sweep, started, ended, target, agents)
    result.update(arm="ours", seed=seed, seeded=supports_seed(env), exit_code=code, agents=agents)
    if code:
        result["log_tail"] = tail
    return result


def summarize(sweep: dict[str, Any], started: float, ended: float, target: float, agents: int = 1) -> dict[str, Any]:
    trials = sorted(sweep["trials"], key=lambda t: t["number"])
    reason = sweep.get("stopped_reason") or ""
    hit = _first_hit(trials, target)
    reached = hit is not None and "target" in reason
    upto = [t for t in trials if hit is None or t["number"] <= hit[0]["number"]]
    epochs_to = (sum(len(t["val_accuracy"]) for t in upto if t is not hit[0]) + hit[1]) if hit else None
    return {"target": target, "started_at": started, "wall_s": ended - started, "reached": reached,
            "stopped_reason": reason, "time_to_target_s": ended - started,
            "target_epoch_at_s": _reached_at(sweep, started) or (_epoch_end_at(hit, started) if hit else None),
            "trials_to_target": len(upto) if hit else None, "epochs_to_target": epochs_to,
            "trials": [_slim(t) for t in trials], "breakdown": breakdown(trials, started, ended, agents)}


def _first_hit(trials: list[dict], target: float) -> tuple[dict, int] | None:
    """(trial, epoch) of the first epoch reaching ``target``, in trial-number order (one agent: the order they ran;
    several: the engine's ``target_reached`` record, not this, says when it was reached)."""
    for t in trials:
        for epoch, value in enumerate(t["val_accuracy"], start=1):
            if value is not None and value >= target - 1e-9:
                return t, epoch
    return None


def _reached_at(sweep: dict[str, Any], started: float) -> float | None:
    """When the engine saw the target epoch (its ``target_reached`` record), seconds from launch."""
    record = sweep["study_attrs"].get("target_reached")
    return record["at"] - started if isinstance(record, dict) and record.get("at") else None


def _epoch_end_at(hit: tuple[dict, int], started: float) -> float | None:
    """When the target epoch ended, from the trial's claim time, start-up and epoch times (seconds from launch)."""
    trial, epoch = hit
    if trial["started_at"] is None or trial["startup_s"] is None:
        return None
    return trial["started_at"] - started + trial["startup_s"] + sum(trial["epoch_time_s"][:epoch])


def breakdown(trials: list[dict], started: float, ended: float, agents: int = 1) -> dict[str, float]:
    """Seconds by part. A trial's claim-to-end span is run_trial's own time (its start-up before the first
    step: data, model, compile; its epochs; what follows them: test, figures, checkpoint, wandb close) plus
    ``process`` (the rest of the span: the trial process's spawn and imports where not hidden by a warm
    start, its exit, the agent's bookkeeping). ``other``: the command's own start, sweep creation, the agent's
    start, the gaps between trials and the final status. With N agents the parts are agent-seconds (they
    overlap in wall time) and ``other`` is N times the wall time less them."""
    parts = {"process_s": 0.0, "startup_s": 0.0, "first_epoch_s": 0.0, "later_epochs_s": 0.0,
             "pruned_epochs_s": 0.0, "post_training_s": 0.0}
    for t in trials:
        epochs = [s for s in t["epoch_time_s"] if s is not None]
        inner = t["inner_startup_s"] or 0.0
        wall = t["wall_time_s"] or (inner + sum(epochs))
        parts["startup_s"] += inner
        if t["state"] == "PRUNED":
            parts["pruned_epochs_s"] += sum(epochs)
        else:
            parts["first_epoch_s"] += sum(epochs[:1])
            parts["later_epochs_s"] += sum(epochs[1:])
        parts["post_training_s"] += max(0.0, wall - inner - sum(epochs))
        if t["started_at"] is not None and t["ended_at"] is not None:
            parts["process_s"] += max(0.0, t["ended_at"] - t["started_at"] - wall)
    parts["other_s"] = (ended - started) * agents - sum(parts.values())
    later = [s for t in trials for s in t["epoch_time_s"][1:] if s is not None]
    first = [t["epoch_time_s"][0] for t in trials if t["epoch_time_s"] and t["epoch_time_s"][0] is not None]
    out = {k: round(v, 2) for k, v in parts.items()}
    out.update(median_first_epoch_s=round(statistics.median(first), 3) if first else None,
               median_later_epoch_s=round(statistics.median(later), 3) if later else None)
    return out


def _slim(t: dict[str, Any]) -> dict[str, Any]:
    keep = ("number", "state", "params", "value", "val_accuracy", "epoch_time_s", "startup_s", "inner_startup_s",
            "wall_time_s", "claim_to_end_s", "started_at", "ended_at")
    out = {k: t[k] for k in keep}
    out["prune"] = {k: v for k, v in t["attrs"].items() if "prun" in k or "rung" in k}
    return out
