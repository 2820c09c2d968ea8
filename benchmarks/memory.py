"""Agent memory over many trials: RSS of one `inat-cnn agent` process after each of N tiny trials.

Each trial trains in a fresh child process (inat_cnn.engine.trial_process), so the agent's own
RSS should stay flat. Reports the RSS after every trial and the slope (MiB per trial, least squares)
over the trials after the first ten; the target is < 0.5 MiB per trial.

    .venv/bin/python benchmarks/memory.py --trials 100 --out memory.json
    .venv/bin/python benchmarks/memory.py --trials 100 --fake 0.05   # the sleep hook: bookkeeping only
    .venv/bin/python benchmarks/memory.py --trials 100 --cold        # real training, no warm spare child
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def rss_mib(pid: int) -> float:
    """Resident set size of ``pid`` (the agent alone, not its children), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def threads_and_fds(pid: int) -> tuple[int, int]:
    """The agent's thread and open file counts (a leak of either grows with trials too)."""
    threads = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("Threads:"))
    return threads, len(list(Path(f"/proc/{pid}/fd").iterdir()))


def slope(xs: list[float], ys: list[float]) -> float:
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--fake", type=float, help="seconds per trial with the sleep hook instead of training")
    ap.add_argument("--cold", action="store_true", help="no warm spare child (INAT_CNN_WARM_TRIAL=0)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    from inat_cnn.data import synthesize

    base = Path(tempfile.mkdtemp(prefix="inat-memory-"))
    data = synthesize(base / "data", classes=3, per_class=8, test_per_class=2, seed=1, min_side=20, max_side=24)
    spec = base / "memory.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "memory", "method": "random", "run_cap": args.trials,
        "metric": {"name": "val_accuracy", "goal": "maximize"},
        "parameters": {"model": {"value": "scratch"}, "image_size": {"value": 16}, "conv_blocks": {"value": 2},
                       "filters": {"value": 4}, "dense_units": {"value": 8}, "epochs": {"value": 1},
                       "batch_size": {"value": 8}, "viz": {"value": False},
                       "dropout": {"min": 0.0, "max": 0.5}}}))
    ws = base / "ws"
    env = {k: v for k, v in os.environ.items() if k not in ("INAT_CNN_STORAGE", "INAT_CNN_FAKE_TRIAL_S")}
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", INAT_CNN_QUIET="1")
    if args.fake:
        env["INAT_CNN_FAKE_TRIAL_S"] = str(args.fake)
    env["INAT_CNN_WARM_TRIAL"] = "0" if args.cold else "1"
    inat = [sys.executable, "-m", "inat_cnn"]
    sweep = subprocess.run(inat + ["sweep", "create", str(spec), "--data", str(data), "--workspace", str(ws)],
                           env=env, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    log = open(base / "agent.log", "wb")  # noqa: SIM115 - closed below
    agent = subprocess.Popen(inat + ["agent", sweep, "--data", str(data), "--workspace", str(ws)], env=env,
                             stdout=log, stderr=subprocess.STDOUT)
    storage = f"sqlite:///{ws}/sweeps.db"
    samples: list[tuple[int, float]] = []
    handles: list[tuple[int, int, int]] = []  # (trials, threads, fds)
    started = time.monotonic()
    while agent.poll() is None:
        try:
            done = len(optuna.load_study(study_name=sweep, storage=storage).get_trials(
                deepcopy=False, states=(TrialState.COMPLETE,)))
            rss, (threads, fds) = rss_mib(agent.pid), threads_and_fds(agent.pid)
        except (FileNotFoundError, RuntimeError, ProcessLookupError, StopIteration):
            break
        if done and (not samples or samples[-1][0] != done):
            samples.append((done, rss))
            handles.append((done, threads, fds))
        time.sleep(0.05)
    agent.wait()
    log.close()
    after = [(n, r) for n, r in samples if n > 10]
    per_trial = round(slope([n for n, _ in after], [r for _, r in after]), 4) if after else None
    result = {"trials": samples[-1][0] if samples else 0, "fake_s": args.fake, "warm": not args.cold,
              "exit_code": agent.returncode, "seconds": round(time.monotonic() - started, 1),
              "rss_mib_first": samples[0][1] if samples else None, "rss_mib_at_10": dict(samples).get(10),
              "rss_mib_last": samples[-1][1] if samples else None, "mib_per_trial_after_10": per_trial,
              "threads_first_last": [handles[0][1], handles[-1][1]] if handles else None,
              "fds_first_last": [handles[0][2], handles[-1][2]] if handles else None,
              "samples": samples, "handles": handles}
    print(json.dumps({k: v for k, v in result.items() if k not in ("samples", "handles")}))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
