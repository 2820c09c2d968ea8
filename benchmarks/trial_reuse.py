"""Reused trial processes: what a child's start-up costs per trial, and how its memory grows across trials.

Runs N real tiny scratch-CNN trials (architectures varied trial by trial, digits-like generated data, 16 px,
1 epoch) through the engine's own ``trial_process.run_in_child``, once with reuse (the default: one child
trains trial after trial, retired after ``INAT_CNN_TRIAL_REUSE`` trials) and once with
``INAT_CNN_TRIAL_REUSE=1`` (a fresh process per trial, the next one warmed during this one), arms
interleaved in blocks. Reports per arm the median claim → first step and wall time per trial, and for
reuse the child's resident memory after each trial with its slope (MiB per trial, least squares) and the
retirements (the memory bound is ``trial_process.GROWTH_MIB``).

    .venv/bin/python benchmarks/trial_reuse.py --trials 20 --out /tmp/trial_reuse.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _config(number: int) -> dict:
    blocks = 1 + number % 3
    return {"model": "scratch", "image_size": 16, "conv_blocks": blocks, "filters": [4, 8, 6][number % 3],
            "dense_units": 16, "batch_size": 16, "epochs": 1, "viz": False, "learning_rate": 1e-3}


def _arm(name: str, trials: int, data: Path, work: Path) -> list[dict]:
    from inat_cnn.engine import trial_process

    os.environ[trial_process.REUSE_ENV] = "1" if name == "fresh" else str(trial_process.DEFAULT_REUSE)
    trial_process.close_spare()
    rows = []
    for number in range(trials):
        job = {"config": _config(number), "data_root": str(data), "trial_dir": str(work / name / f"t{number}"),
               "workspace": str(work / "ws"), "metric": "val_accuracy", "objective_metric": "val_accuracy",
               "goal": "maximize", "wandb_group": "g", "wandb_project": "p", "wandb_mode": "offline",
               "run_name": f"{name}-{number}", "number": number, "split_seed": 0}
        t0 = time.perf_counter()
        result = trial_process.run_in_child(job, lambda epoch, logs: None)
        wall = time.perf_counter() - t0
        child = trial_process._IDLE[0] if trial_process._IDLE else None
        rows.append({"trial": number, "wall_s": round(wall, 3), "startup_s": result.get("startup_s"),
                     "child_pid": child.proc.pid if child else None, "child_rss_mib": child.rss if child else None,
                     "load_avg_1min": round(os.getloadavg()[0], 2)})
    trial_process.close_spare()
    return rows


def _slope(ys: list[float]) -> float:
    xs = list(range(len(ys)))
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    os.environ.update(WANDB_MODE="offline", WANDB_SILENT="true", INAT_CNN_QUIET="1", TF_CPP_MIN_LOG_LEVEL="2")
    from inat_cnn.data import synthesize

    with tempfile.TemporaryDirectory(prefix="trial-reuse-") as tmp:
        work = Path(tmp)
        os.environ["INAT_CNN_HOME"] = str(work / "home")
        os.environ["WANDB_DIR"] = str(work / "wandb")
        data = synthesize(work / "data", classes=3, per_class=20, test_per_class=4, min_side=16, max_side=20)
        arms = {"reuse": _arm("reuse", args.trials, data, work), "fresh": _arm("fresh", args.trials, data, work)}
    out = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "trials": args.trials, "arms": arms}
    for name, rows in arms.items():
        later = rows[1:]
        out[name] = {"median_startup_s": statistics.median(r["startup_s"] for r in later),
                     "median_wall_s": statistics.median(r["wall_s"] for r in later),
                     "total_wall_s": round(sum(r["wall_s"] for r in rows), 2)}
        print(f"{name}: claim -> first step median {out[name]['median_startup_s']:.2f} s, wall per trial "
              f"{out[name]['median_wall_s']:.2f} s, all {out[name]['total_wall_s']:.1f} s (trials 2..N)")
    rss = [r["child_rss_mib"] for r in arms["reuse"] if r["child_rss_mib"] is not None]
    if len(rss) > 3:
        out["reuse"]["child_rss_mib"] = [rss[0], rss[-1]]
        out["reuse"]["child_rss_slope_mib_per_trial"] = round(_slope(rss[1:]), 3)
        out["reuse"]["children"] = len({r["child_pid"] for r in arms["reuse"] if r["child_pid"]})
        print(f"reuse: child RSS {rss[0]:.0f} -> {rss[-1]:.0f} MiB, {out['reuse']['child_rss_slope_mib_per_trial']}"
              f" MiB per trial after the first; {out['reuse']['children']} child process(es)")
    if args.out:
        args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
