"""Trial start-up with and without a warm child: claim → first training step of real tiny trials on digits.

Each trial trains in a child process (``inat_cnn.engine.trial_process``). Cold: the child is started when
the trial is handed over, so the trial pays Python, TensorFlow/Keras, the training code and wandb's service
before its data and model. Warm (the default): the child of the next trial is started, and imports, while
the current one trains. Runs blocks of ``--trials`` back-to-back trials, cold and warm alternating
``--rounds`` times, and reports per arm the median ``startup_s`` (hand-over → first training step, what
the agent records) of every trial but each block's first (a block's first warm trial has no spare yet),
and the median hand-over → result time.

    .venv/bin/python benchmarks/trial_startup.py --trials 4 --rounds 2 --out startup.json
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
sys.path.insert(0, str(ROOT / "benchmarks"))

# digits-size trials: 32 px, 1,260 training images, 2 epochs of a small scratch CNN
CONFIG = {"model": "scratch", "image_size": 32, "conv_blocks": 3, "filters": 16, "dense_units": 64,
          "batch_size": 64, "epochs": 2, "batch_norm": True, "viz": False}


def run_block(arm: str, trials: int, data: Path, base: Path, start: int) -> list[dict]:
    from inat_cnn.engine import trial_process

    os.environ[trial_process.WARM_ENV] = "1" if arm == "warm" else "0"
    trial_process.close_spare()
    rows = []
    for number in range(start, start + trials):
        job = {"config": CONFIG, "data_root": str(data), "trial_dir": str(base / "runs" / f"trial-{number:04d}"),
               "workspace": str(base / "ws"), "metric": "val_accuracy", "objective_metric": "val_accuracy",
               "goal": "maximize", "wandb_group": "startup", "wandb_project": "inat-cnn-bench",
               "wandb_mode": "offline", "run_name": f"startup-{number:04d}", "number": number, "split_seed": 0}
        handed = time.perf_counter()
        result = trial_process.run_in_child(job, lambda epoch, logs: None)
        rows.append({"arm": arm, "trial": number, "first_in_block": number == start,
                     "startup_s": result["startup_s"], "trial_s": round(time.perf_counter() - handed, 3)})
        print(json.dumps(rows[-1]), flush=True)
    trial_process.close_spare()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=4, help="trials per block")
    ap.add_argument("--rounds", type=int, default=2, help="cold + warm blocks, alternating")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    from ttt_common import make_digits

    os.environ.update(WANDB_MODE="offline", WANDB_SILENT="true", INAT_CNN_QUIET="1")
    base = Path(tempfile.mkdtemp(prefix="inat-startup-"))
    data = make_digits(base / "digits")
    rows: list[dict] = []
    for _ in range(args.rounds):
        for arm in ("cold", "warm"):
            rows += run_block(arm, args.trials, data, base, len(rows))
    summary = {}
    for arm in ("cold", "warm"):
        kept = [r for r in rows if r["arm"] == arm and not r["first_in_block"]]
        summary[arm] = {"trials": len(kept),
                        "startup_s_median": round(statistics.median(r["startup_s"] for r in kept), 2),
                        "trial_s_median": round(statistics.median(r["trial_s"] for r in kept), 2)}
    summary["startup_saved_s"] = round(summary["cold"]["startup_s_median"] - summary["warm"]["startup_s_median"], 2)
    summary["load_average"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(summary))
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "config": CONFIG, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
