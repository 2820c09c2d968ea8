"""What a trial pays after training, per ``post_training`` mode, on scikit-learn's digits (32 px class folders).

One process (warm, as an agent's trial process after its first trial), one warm-up trial, then trials
alternating inline / export (a shared machine's load hits both alike). Per trial: run_trial's wall time
and, timed around run_trial's own parts, the post-training step (test pass, figures, model artifact) and
the close (metrics.json, history.csv, wandb finish). For each export trial, ``complete_trial`` (what
the report / export do later for the top k) is timed too. Prints JSON and writes it to --out.

    .venv/bin/python benchmarks/post_training.py --trials 4 --out /tmp/post_training.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

CONFIG = {"model": "scratch", "image_size": 32, "conv_blocks": 3, "filters": 16, "dense_units": 64,
          "batch_norm": True, "batch_size": 32, "epochs": 3, "viz": True}


def _timed(module, name: str, sink: list) -> None:
    """Wrap ``module.name`` so each call appends its seconds to ``sink``."""
    inner = getattr(module, name)

    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            sink.append(time.perf_counter() - t0)

    setattr(module, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=4, help="trials per mode")
    parser.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="post-training-"))
    os.environ.setdefault("WANDB_MODE", "offline")
    from ttt_common import make_digits

    from inat_cnn.data import load_splits
    from inat_cnn.training import post_training, run_trial, trial

    data = make_digits(work / "digits")
    ws = work / "ws"
    splits = load_splits(data, 32, cache_dir=ws / "cache")
    after, close = [], []
    _timed(trial, "_after_training", after)
    _timed(trial, "_close", close)
    rows = []
    run_trial(CONFIG, data, work / "warmup", workspace=ws, splits=splits)  # TF start-up and tracing, not counted
    for i in range(args.trials):
        for mode in ("inline", "export"):
            after.clear(), close.clear()
            folder = work / f"{mode}-{i}"
            t0 = time.perf_counter()
            outcome = run_trial({**CONFIG, "post_training": mode, "seed": i}, data, folder, workspace=ws,
                                splits=splits, top_k_bar=None)
            row = {"mode": mode, "trial_s": round(time.perf_counter() - t0, 3), "post_s": round(after[0], 3),
                   "close_s": round(close[0], 3), "pending": list(outcome.pending)}
            if mode == "export":
                t0 = time.perf_counter()
                post_training.complete_trial(folder, data, workspace=ws)
                row["complete_later_s"] = round(time.perf_counter() - t0, 3)
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {mode: {key: statistics.median(r[key] for r in rows if r["mode"] == mode)
                      for key in ("trial_s", "post_s", "close_s")} for mode in ("inline", "export")}
    summary["export"]["complete_later_s"] = statistics.median(r["complete_later_s"] for r in rows
                                                              if r["mode"] == "export")
    summary["saved_per_trial_s"] = round(summary["inline"]["trial_s"] - summary["export"]["trial_s"], 3)
    summary["load_average"] = os.getloadavg()
    result = {"config": CONFIG, "trials_per_mode": args.trials, "rows": rows, "median": summary}
    print(json.dumps(result["median"], indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
