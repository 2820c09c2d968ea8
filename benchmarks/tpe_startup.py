"""How many random start-up trials TPE should get for a budget of run_cap trials (Optuna only, no training).

A synthetic objective over a CS6910-style scratch-CNN space (the kind `sweeps/scratch.yaml` searches): a
log-uniform learning rate whose best value depends on batch norm, categorical depth / width / organisation /
dropout / dense units / batch size with their own effects and one interaction, plus seed noise. The target
is the value that ``--base-rate`` of random configurations reach. For each start-up count k, TPE (the
engine's sampler, ``space.make_sampler`` with only ``n_startup_trials`` changed) runs ``--trials`` trials per
seed; a run with budget B is the first B trials of that run (TPE does not know the budget). Printed per k:
median trials to the target and the share of seeds that reach it within each budget.

    .venv/bin/python benchmarks/tpe_startup.py --seeds 100 --jobs 2
"""

from __future__ import annotations

import argparse
import math
from concurrent.futures import ProcessPoolExecutor
from unittest import mock

import numpy as np

SPACE = {
    "method": "bayes", "metric": {"name": "val_accuracy", "goal": "maximize"},
    "parameters": {
        "model": {"value": "scratch"}, "conv_blocks": {"values": [3, 4, 5]}, "filters": {"values": [16, 32, 64]},
        "filter_org": {"values": ["same", "double", "half"]}, "batch_norm": {"values": [True, False]},
        "dropout": {"values": [0.0, 0.2, 0.3]}, "dense_units": {"values": [64, 128, 256, 512]},
        "learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "batch_size": {"values": [32, 64]}}}


def accuracy(p: dict, rng: np.random.Generator) -> float:
    """A made-up but accuracy-like landscape: one smooth axis (lr), categorical effects, an interaction."""
    best_lr = -2.3 if p["batch_norm"] else -3.0  # batch norm tolerates a larger learning rate
    acc = 0.97 - 0.06 * (math.log10(p["learning_rate"]) - best_lr) ** 2
    acc += {3: -0.01, 4: 0.0, 5: 0.004}[p["conv_blocks"]] + {16: -0.012, 32: 0.0, 64: 0.003}[p["filters"]]
    acc += {"same": 0.0, "double": 0.004, "half": -0.02}[p["filter_org"]] + (0.01 if p["batch_norm"] else 0.0)
    acc += {0.0: -0.006, 0.2: 0.003, 0.3: 0.0}[p["dropout"]] + {64: -0.008, 128: 0.0, 256: 0.002, 512: 0.0}[
        p["dense_units"]]
    acc += -0.004 if p["batch_size"] == 64 else 0.0
    return acc + float(rng.normal(0.0, 0.004))


def _spec():
    from inat_cnn.spec import validate_sweep_dict

    return validate_sweep_dict(SPACE).spec


def target_for(base_rate: float, n: int = 20000) -> float:
    """The value that ``base_rate`` of random configurations reach (``n`` drawn uniformly, as random search does)."""
    rng = np.random.default_rng(0)
    params = SPACE["parameters"]
    values = []
    for _ in range(n):
        p = {k: v["values"][rng.integers(len(v["values"]))] for k, v in params.items() if "values" in v}
        lr = params["learning_rate"]
        p["learning_rate"] = math.exp(rng.uniform(math.log(lr["min"]), math.log(lr["max"])))
        values.append(accuracy(p, rng))
    return float(np.quantile(values, 1.0 - base_rate))


def trials_to_target(args: tuple[int, int, int, float]) -> int | None:
    """1-based number of the first trial that reaches ``target`` (None within ``trials``)."""
    import optuna

    from inat_cnn.engine import space

    k, seed, trials, target = args
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    spec = _spec()
    study = optuna.create_study(sampler=space.make_sampler(spec, seed=seed), direction="maximize")
    rng = np.random.default_rng(seed)
    with mock.patch.object(space, "startup_trials", lambda run_cap: k):  # the sampler is built per trial
        for i in range(trials):
            trial = study.ask()
            value = accuracy(space.sample_parameters(trial, spec), rng)
            study.tell(trial, value)
            if value >= target:
                return i + 1
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--trials", type=int, default=60)
    ap.add_argument("--base-rate", type=float, default=0.05)
    ap.add_argument("--startups", default="1,2,3,5,7,10,15")
    ap.add_argument("--budgets", default="8,12,16,20,30,40,60")
    ap.add_argument("--jobs", type=int, default=2)
    a = ap.parse_args()
    target = target_for(a.base_rate)
    budgets = [int(b) for b in a.budgets.split(",")]
    print(f"target {target:.4f} (reached by {a.base_rate:.0%} of random configurations); {a.seeds} seeds, "
          f"{a.trials} trials each; random search = k >= trials")
    print("k      median  " + "  ".join(f"P(<={b:>2})" for b in budgets))
    ks = [int(k) for k in a.startups.split(",")] + [a.trials]
    with ProcessPoolExecutor(a.jobs) as pool:
        for k in ks:
            hits = list(pool.map(trials_to_target, [(k, s, a.trials, target) for s in range(a.seeds)]))
            padded = sorted(h if h is not None else a.trials + 1 for h in hits)
            median = padded[len(padded) // 2]
            shares = [sum(h is not None and h <= b for h in hits) / len(hits) for b in budgets]
            label = "random" if k >= a.trials else str(k)
            print(f"{label:<6} {median if median <= a.trials else '>' + str(a.trials):>6}  "
                  + "  ".join(f"{s:>6.2f}" for s in shares), flush=True)


if __name__ == "__main__":
    main()
