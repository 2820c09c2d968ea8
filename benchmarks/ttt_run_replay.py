"""Pruning replayed on the curves a benchmark run recorded: the peer arm's trials are random configurations of
the space trained without early termination (the engine's random draws, ours' validation split), so each run
adds ~4-16 curves per seed to the 20 that `curves` recorded once.

A curve counts for a target when it says whether it reaches it: a peer trial stops at its run's target epoch,
so a trial that hit a lower target than the one replayed is left out (it might have gone on to reach it). Each
replayed trial costs what ours measured per trial (``COSTS``: start-up, first epoch, later epochs), and the
settings go through the engine's own rung rule (``ttt_replay.replay_pruning``, ``pruning.decide``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ttt_common import read_json

#: ours' measured costs per trial in run C (report's "costs"): before the first step, first epoch, later epochs
COSTS = {"before_s": 1.78, "first_epoch_s": 1.61, "later_epoch_s": 0.49}
EXTRA = [(2, 3, "min_iter", "best"), (4, 2, "min_iter", "best"), (5, 2, "min_iter", "best")]


def run_curves(paths: list[Path], target: float) -> dict[str, Any]:
    """The peer trials of the runs in ``paths`` as a curves dict (``ttt_replay``'s format) for ``target``."""
    trials = []
    for path in paths:
        run = read_json(path) or {}
        seeds = run.get("seeds") or []
        for seed in seeds if isinstance(seeds, list) else seeds.values():
            for t in (seed.get("peer") or {}).get("trials", []):
                values = [v for v in t["val_accuracy"] if v is not None]
                if not values or (max(values) >= run["target"] - 1e-9 and run["target"] < target):
                    continue
                epochs = [COSTS["first_epoch_s"]] + [COSTS["later_epoch_s"]] * (len(values) - 1)
                trials.append({"val_accuracy": values, "epoch_time_s": epochs,
                               "trial_s": sum(epochs) + COSTS["before_s"]})
    return {"trials": trials}


def replay_runs(paths: list[Path], targets: list[float], run_cap: int = 40) -> list[dict[str, Any]]:
    from ttt_replay import PRUNING, replay_pruning

    out = []
    for target in targets:
        curves = run_curves(paths, target)
        reached = sum(max(t["val_accuracy"]) >= target - 1e-9 for t in curves["trials"])
        rows = [replay_pruning(curves, target, setting, run_cap) for setting in [*PRUNING, *EXTRA]]
        count = len(curves["trials"])
        out.append({"target": target, "curves": count, "base_rate": f"{reached}/{count}", "pruning": rows})
    return out


def print_replays(result: list[dict[str, Any]]) -> None:
    for block in result:
        print(f"target {block['target']}: {block['curves']} curves, base rate {block['base_rate']}")
        print("| setting | rungs | median s | mean s | median trials | reached | pruned trials that would have hit |")
        print("|---|---|---:|---:|---:|---:|---:|")
        for r in block["pruning"]:
            print(f"| {r['setting']} | {r['rungs']} | {r['median_time_s']} | {r['mean_time_s']} | {r['median_trials']} "
                  f"| {r['reached']:.0%} | {r['lost_per_order']} |")
