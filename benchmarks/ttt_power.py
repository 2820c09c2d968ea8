"""How likely a time-to-target run passes the issue's bar (ratio >= 3x, bootstrap 90 % lower bound > 1.5x), from
a recorded run's per-seed pairs: draw many studies of N seeds from those pairs (with replacement), with ours'
times divided by a speed-up factor, and count how many pass. Pure arithmetic on a results JSON; no training.

``--oracle`` puts the bar's ceiling beside it: an engine that trains nothing but the configuration that hits (the
peer's hitting trial, from its launch to its target epoch: one process start, imports, ``wandb.init``, the epochs
to the target, no command, sweep, agent or other trial), at ``--oracle-factors`` times that cost.

    .venv/bin/python benchmarks/ttt_power.py benchmarks/ttt_results/run_g_val30_random_2agents.json --oracle
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
from pathlib import Path

from ttt_stats import bootstrap_ratio, ceiling_times, paired


def passes(pairs: list[tuple[float, float]], *, ratio: float = 3.0, lower: float = 1.5,
           resamples: int = 1000) -> tuple[float, float, bool]:
    """(point ratio, bootstrap lower bound, whether both clear the bar) for one study of (ours, peer) pairs."""
    point, lo, _ = bootstrap_ratio([o for o, _ in pairs], [p for _, p in pairs], resamples=resamples)
    return point, lo, point >= ratio and lo > lower


def power(pairs: list[tuple[float, float]], seeds: int, speedup: float, *, studies: int = 200,
          seed: int = 0) -> dict[str, float]:
    """Median point ratio, median lower bound and the share of simulated studies that pass."""
    rng = random.Random(seed)
    runs = [passes([(o / speedup, p) for o, p in (rng.choice(pairs) for _ in range(seeds))])
            for _ in range(studies)]
    return {"seeds": seeds, "speedup": speedup, "median_ratio": round(statistics.median(r[0] for r in runs), 2),
            "median_lower_bound": round(statistics.median(r[1] for r in runs), 2),
            "pass_share": round(sum(r[2] for r in runs) / studies, 3)}


def oracle_pairs(rows: list[dict]) -> list[tuple[float, float]]:
    """(the hitting configuration's own launch-to-target-epoch time, the peer's time to target) per seed."""
    return list(zip(ceiling_times(rows) or [], (r["peer"]["time_to_target_s"] for r in rows)))


def _table(pairs: list[tuple[float, float]], seeds: list[int], factors: list[float], label: str,
           divide: bool = True) -> None:
    """One row per (seeds, factor): ours' times divided (or, ``divide=False``, multiplied) by the factor."""
    print(f"| seeds | {label} | median ratio | median 90 % lower bound | studies passing |")
    print("|---:|---:|---:|---:|---:|")
    for n in seeds:
        for factor in factors:
            p = power(pairs, n, factor if divide else 1 / factor)
            print(f"| {n} | {factor:g} | {p['median_ratio']:.2f}x | {p['median_lower_bound']:.2f}x | "
                  f"{p['pass_share']:.0%} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path)
    parser.add_argument("--seeds", type=int, nargs="+", default=[15, 30, 60])
    parser.add_argument("--speedups", type=float, nargs="+", default=[1.0, 1.5, 2.0, 2.5])
    parser.add_argument("--oracle", action="store_true", help="also the ceiling: an engine training only the hit")
    parser.add_argument("--oracle-factors", type=float, nargs="+", default=[1.0, 1.25, 1.5, 2.0])
    args = parser.parse_args()
    rows = paired(json.loads(args.results.read_text()))
    pairs = [(r["ours"]["time_to_target_s"], r["peer"]["time_to_target_s"]) for r in rows]
    print(f"{args.results.name}: {len(pairs)} seeds recorded")
    _table(pairs, args.seeds, args.speedups, "ours' time /")
    if args.oracle:
        ceiling = oracle_pairs(rows)
        if not ceiling:
            raise SystemExit(f"{args.results}: no ceiling: the run did not record the peer's trial launch and "
                             "target-epoch times (runs before C)")
        point, lo, hi = bootstrap_ratio([o for o, _ in ceiling], [p for _, p in ceiling])
        floor = statistics.median(o for o, _ in ceiling)
        print(f"\nthe ceiling (only the hitting configuration trained, median {floor:.1f} s): "
              f"{point:.2f}x [{lo:.2f}, {hi:.2f}] on the recorded seeds; an engine at k times its cost:")
        _table(ceiling, args.seeds, args.oracle_factors, "k", divide=False)


if __name__ == "__main__":
    main()
