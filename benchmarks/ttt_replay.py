"""Replays on the recorded curves (ttt_curves.py): the base rate of each target, the pruning choices and the size
of TPE's start-up, measured without training anything.

Pruning: many random orders of the recorded trials (drawn with replacement up to run_cap) go epoch by epoch
through the target check (every epoch) and the engine's own rung rule (``inat_cnn.engine.pruning``: rungs placed
from min_iter/eta by min_iter or max_iter placement, a trial judged on this epoch's value, ``last``, or its
best so far, ``best``, against the trials before it at that rung). A trial costs its recorded epoch times plus
the per-trial overhead measured in the recording (build, compile, test evaluation; no process start). Figures
per setting: median time and trials to target, the share of time spent in epochs of pruned trials, and "lost":
pruned trials whose full curve would have reached the target.

TPE start-up: TPE cannot be replayed on recorded points (it proposes new ones), so a surrogate stands in: a
random forest from parameters to the best val_accuracy, fitted on the curves (its leave-one-out rank
correlation is printed: how far to trust it). The surrogate target is its own 85th percentile over random
draws (a 15 % base rate, as the real target). Real TPESampler studies (multivariate, as the engine builds
them) with several n_startup_trials, and random search, count trials until the surrogate reaches it."""

from __future__ import annotations

import math
import random
import statistics
from typing import Any

from ttt_curves import base_rates, best_of, choose_target, truncated

TARGETS = (0.95, 0.96, 0.97, 0.975, 0.98, 0.985, 0.99, 0.995, 1.0)
PRUNING = [None] + [(m, eta, placement, judge) for m, eta, placement in
                    ((1, 3, "min_iter"), (3, 3, "min_iter"), (1, 2, "min_iter"), (2, 2, "min_iter"), (3, 2, "min_iter"),
                     (1, 3, "max_iter"), (1, 2, "max_iter")) for judge in ("last", "best")]
ORDERS = 400
STARTUPS = (1, 3, 5, 10)


def analysis(curves: dict[str, Any], space: dict[str, Any], epochs: int | None = None,
             run_cap: int | None = None) -> dict[str, Any]:
    cut = truncated(curves, epochs)
    target = choose_target(cut)
    run_cap = run_cap or space.get("run_cap") or 40
    return {"trials": len(cut["trials"]), "epochs": epochs or len(cut["trials"][0]["val_accuracy"]),
            "base_rates": base_rates(cut, sorted({*TARGETS, target})), "target": target,
            "overhead_s": trial_overhead(cut), "pruning": [replay_pruning(cut, target, s, run_cap) for s in PRUNING],
            "tpe": tpe_startup(cut, space, run_cap)}


def trial_overhead(curves: dict[str, Any]) -> float:
    """Median of a recorded trial's time outside its epochs (model build, compile, test, wandb)."""
    rest = [t["trial_s"] - sum(t["epoch_time_s"]) for t in curves["trials"] if t.get("trial_s")]
    return round(statistics.median(rest), 2) if rest else 0.0


def replay_pruning(curves: dict[str, Any], target: float, setting: tuple | None, run_cap: int) -> dict[str, Any]:
    """``setting``: (min_iter, eta, rung placement, judge) of the engine's pruner, or None (no pruning)."""
    from inat_cnn.engine.pruning import Ladder, place_rungs

    trials, overhead = curves["trials"], trial_overhead(curves)
    epochs = max(len(t["val_accuracy"]) for t in trials)
    ladder = None if setting is None else Ladder(place_rungs(setting[0], setting[1], epochs, setting[2]),
                                                 float(setting[1]), setting[3])
    times, counts, pruned_share, lost = [], [], [], 0
    for order in range(ORDERS):
        rng, seen = random.Random(order), []
        clock = pruned_time = 0.0
        reached, n = False, 0
        while n < run_cap and not reached:
            n += 1
            curve = trials[rng.randrange(len(trials))]
            spent, reached, cut = _replay_trial(curve, target, ladder, seen)
            clock += spent + overhead
            if cut:
                pruned_time += spent
                lost += best_of(curve["val_accuracy"]) >= target - 1e-9
        times.append(clock if reached else math.inf)
        counts.append(n if reached else math.inf)
        pruned_share.append(pruned_time / clock if clock else 0.0)
    name = "none" if setting is None else f"min_iter {setting[0]}, eta {setting[1]}, {setting[2]}, {setting[3]}"
    return {"setting": name, "rungs": list(ladder.rungs) if ladder else [],
            "reached": sum(math.isfinite(t) for t in times) / ORDERS, "median_time_s": _median_inf(times),
            "mean_time_s": round(statistics.mean(min(t, _cap(times)) for t in times), 1),
            "median_trials": _median_inf(counts), "pruned_time_share": round(statistics.mean(pruned_share), 3),
            "lost_per_order": round(lost / ORDERS, 2)}


def _replay_trial(curve: dict, target: float, ladder: Any, seen: list[dict[int, float]]) -> tuple[float, bool, bool]:
    """One recorded curve through the target check and the engine's rung rule (``pruning.decide``) against the
    trials before it: (epoch seconds spent, target reached, pruned)."""
    from inat_cnn.engine.pruning import decide

    values: dict[int, float] = {}
    spent, cut, reached = 0.0, False, False
    for epoch, (value, seconds) in enumerate(zip(curve["val_accuracy"], curve["epoch_time_s"]), start=1):
        values[epoch] = 0.0 if value is None else value
        spent += seconds
        if values[epoch] >= target - 1e-9:
            reached = True
            break
        decision = decide(values, seen, epoch, ladder, "maximize") if ladder is not None else None
        if decision is not None and decision.pruned:
            cut = True
            break
    seen.append(dict(values))
    return spent, reached, cut


def _cap(values: list[float]) -> float:
    """An order that never reached the target counts as the slowest one that did (a lower bound)."""
    return max((v for v in values if math.isfinite(v)), default=0.0)


def _median_inf(values: list[float]) -> float | None:
    m = statistics.median(values)
    return None if math.isinf(m) else round(m, 1)


# --- TPE start-up ---------------------------------------------------------------------------------

def _encode(params: dict[str, Any], space: dict[str, Any]) -> list[float]:
    row = []
    for name, p in space["parameters"].items():
        if "value" in p:
            continue
        v = params[name]
        if "values" in p and all(isinstance(c, str) for c in p["values"]):
            row += [float(v == c) for c in p["values"]]
        elif isinstance(v, bool):
            row.append(float(v))
        else:
            row.append(math.log(float(v)) if float(v) > 0 else 0.0)
    return row


def tpe_startup(curves: dict[str, Any], space: dict[str, Any], run_cap: int, repeats: int = 48) -> dict[str, Any]:
    import numpy as np
    import optuna
    from scipy.stats import spearmanr
    from sklearn.ensemble import RandomForestRegressor

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    x = np.array([_encode(t["params"], space) for t in curves["trials"]])
    y = np.array([best_of(t["val_accuracy"]) for t in curves["trials"]])
    loo = []
    for i in range(len(y)):  # leave-one-out: how well the surrogate ranks configurations it has not seen
        keep = np.arange(len(y)) != i
        loo.append(RandomForestRegressor(200, min_samples_leaf=2, random_state=0).fit(x[keep], y[keep])
                   .predict(x[i:i + 1])[0])
    forest = RandomForestRegressor(200, min_samples_leaf=2, random_state=0).fit(x, y)
    from ttt_common import sample_random

    rng = random.Random(0)
    draws = forest.predict(np.array([_encode(sample_random(space["parameters"], rng), space) for _ in range(2000)]))
    goal = float(np.quantile(draws, 0.85))
    dists = _distributions(space)
    fixed = {n: p["value"] for n, p in space["parameters"].items() if "value" in p}

    def trials_to_goal(sampler) -> float:
        study = optuna.create_study(direction="maximize", sampler=sampler)
        for n in range(1, run_cap + 1):
            trial = study.ask(dists)
            value = float(forest.predict(np.array([_encode({**fixed, **trial.params}, space)]))[0])
            study.tell(trial, value)
            if value >= goal:
                return n
        return math.inf

    rows = [{"sampler": "random", "trials": [trials_to_goal(optuna.samplers.RandomSampler(seed=r))
                                              for r in range(repeats)]}]
    for startup in STARTUPS:
        rows.append({"sampler": f"tpe n_startup {startup}", "trials": [trials_to_goal(optuna.samplers.TPESampler(
            seed=r, multivariate=True, n_startup_trials=startup)) for r in range(repeats)]})
    for row in rows:
        t = row.pop("trials")
        row.update(median_trials=_median_inf(t), reached=sum(math.isfinite(v) for v in t) / len(t),
                   mean_trials_capped=round(statistics.mean(min(v, run_cap) for v in t), 2))
    return {"surrogate_loo_spearman": round(float(spearmanr(loo, y).statistic), 3), "surrogate_goal": round(goal, 4),
            "run_cap": run_cap, "repeats": repeats, "rows": rows}


def _distributions(space: dict[str, Any]) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    out = {}
    for name, p in space["parameters"].items():
        if "values" in p:
            out[name] = CategoricalDistribution(p["values"])
        elif p.get("distribution") == "log_uniform_values":
            out[name] = FloatDistribution(p["min"], p["max"], log=True)
    return out


def print_analysis(result: dict[str, Any]) -> None:
    print(f"{result['trials']} random configurations, {result['epochs']} epochs; per-trial overhead "
          f"{result['overhead_s']} s")
    print("base rate (share of random configurations whose best epoch reaches the target):")
    for r in result["base_rates"]:
        print(f"  {r['target']:.4f}: {r['reached']}/{r['of']} = {r['rate']:.0%}")
    print(f"chosen target: {result['target']}")
    print("pruning replay | rungs | reached | median s | mean s | median trials | pruned time | lost/order")
    for r in result["pruning"]:
        print(f"  {r['setting']:<36} {str(r['rungs']):<12} {r['reached']:.0%} {r['median_time_s']} {r['mean_time_s']} "
              f"{r['median_trials']} {r['pruned_time_share']:.0%} {r['lost_per_order']:.2f}")
    tpe = result["tpe"]
    print(f"TPE start-up (surrogate, LOO Spearman {tpe['surrogate_loo_spearman']}, goal {tpe['surrogate_goal']}, "
          f"run_cap {tpe['run_cap']}, {tpe['repeats']} repeats):")
    for r in tpe["rows"]:
        print(f"  {r['sampler']:<18} median trials {r['median_trials']}, mean (capped) {r['mean_trials_capped']}, "
              f"reached {r['reached']:.0%}")
