"""A model of both arms over many seeds, from what one run measured: when the machine allows only a few real
seeds, this says what 15 would likely show. It is a model, not a measurement, and is printed as one.

Each arm's costs come from its measured trials (medians): a fixed cost per trial (ours: the trial process
not hidden by a warm start, run_trial's start-up and what follows the epochs; peer: launch to fit, then save,
test, wandb close and exit), the first epoch and the later ones, and ours' per-sweep cost (command start,
sweep creation, final status). The curves are the recorded random configurations (ttt_curves.py), in random
order for both arms; ours runs them through the target check and its pruner (the engine's rung rule with the
space's min_iter/eta and the sweep's judge), the peer runs every trial to the end and stops its clock at the
first epoch that reaches the target. TPE is not modelled (its start-up covers the horizon at this base rate:
ours proposes at random here too). An experiment is ``seeds`` such pairs; its ratio of medians is drawn many
times: the spread is what a real run of that many seeds would see from the luck of the draws alone."""

from __future__ import annotations

import random
import statistics
from typing import Any

from ttt_replay import _replay_trial


def arm_costs(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Median per-trial costs of each arm in a results JSON."""
    ours = [t for r in results["seeds"].values() if "ours" in r for t in r["ours"]["trials"]]
    peer = [t for r in results["seeds"].values() if "peer" in r for t in r["peer"]["trials"]]
    runs = [r["ours"] for r in results["seeds"].values() if "ours" in r]
    fixed = [((t["ended_at"] or 0) - (t["started_at"] or 0)) - sum(x or 0 for x in t["epoch_time_s"]) for t in ours
             if t["started_at"] and t["ended_at"]]
    return {
        "ours": {"before_s": _med(fixed), "after_s": 0.0,  # the command waits for the last trial's end too
                 "first_epoch_s": _med(t["epoch_time_s"][0] for t in ours if t["epoch_time_s"]),
                 "later_epoch_s": _med(s for t in ours for s in t["epoch_time_s"][1:]),
                 "sweep_s": _med(r["breakdown"]["other_s"] for r in runs)},
        "peer": {"before_s": _med(t["startup_s"] for t in peer if t["epochs"]),
                 "after_s": _med(t["post_s"] for t in peer if t["epochs"] and t["reached_at"] is None),
                 "first_epoch_s": _med(t["epoch_s"][0] for t in peer if t["epoch_s"]),
                 "later_epoch_s": _med(s for t in peer for s in t["epoch_s"][1:]), "sweep_s": 0.0}}


def _med(values) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else 0.0


def one_seed(curves: list[dict], costs: dict[str, float], target: float, ladder: Any, rng: random.Random,
             run_cap: int) -> float:
    """Seconds to target of one arm for one random order of the curves (ladder None: no pruning). A trial costs
    ``before_s``, its epochs, then ``after_s`` unless it reached the target (the peer's clock stops there)."""
    clock, seen = costs["sweep_s"], []
    for _ in range(run_cap):
        curve = curves[rng.randrange(len(curves))]
        timed = {**curve, "epoch_time_s": [costs["first_epoch_s"]] + [costs["later_epoch_s"]] *
                 (len(curve["val_accuracy"]) - 1)}
        spent, reached, _ = _replay_trial(timed, target, ladder, seen)
        clock += costs["before_s"] + spent
        if reached:
            return clock
        clock += costs["after_s"]
    return clock


def model(results: dict[str, Any], curves: dict[str, Any], seeds: int = 15, experiments: int = 2000,
          judge: str = "best") -> dict[str, Any]:
    from inat_cnn.engine.pruning import Ladder, place_rungs

    costs, target, space = arm_costs(results), results["target"], results["space"]
    et, epochs = space["early_terminate"], space["parameters"]["epochs"]["value"]
    ladder = Ladder(place_rungs(et["min_iter"], et["eta"], epochs), float(et["eta"]), judge)
    run_cap = space.get("run_cap") or 40
    rng, ratios, ours_all, peer_all = random.Random(0), [], [], []
    for _ in range(experiments):
        ours = [one_seed(curves["trials"], costs["ours"], target, ladder, rng, run_cap) for _ in range(seeds)]
        peer = [one_seed(curves["trials"], costs["peer"], target, None, rng, run_cap) for _ in range(seeds)]
        ratios.append(statistics.median(peer) / statistics.median(ours))
        ours_all += ours
        peer_all += peer
    ratios.sort()
    return {"costs": {a: {k: round(v, 2) for k, v in c.items()} for a, c in costs.items()}, "seeds": seeds,
            "experiments": experiments, "median_ratio": round(statistics.median(ratios), 2),
            "ratio_90": [round(ratios[int(0.05 * experiments)], 2), round(ratios[int(0.95 * experiments)], 2)],
            "median_ours_s": round(statistics.median(ours_all), 1),
            "median_peer_s": round(statistics.median(peer_all), 1)}
