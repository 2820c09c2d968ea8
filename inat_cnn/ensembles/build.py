"""Build an ensemble folder from member .keras files, fit its aggregations on validation, judge it on test.

``build_ensemble_folder(members, dest, data=...)`` writes ``dest/model.keras`` (the mean) and, given the
dataset, ``dest/greedy.keras`` and ``dest/stacked.keras`` fitted on the validation split, then measures on
the test split each member (through the ensemble's own input), the best single model (at its own size),
every aggregation, the same-cost baseline when its copies exist, accuracy against the number of members
(``accuracy_vs_members.png``) and the inference cost. The order is the guarantee: every fit is done
before the test split is first read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import aggregate, graph

AGGREGATIONS = ("mean", "greedy", "stacked")
FILES = {"mean": "model.keras", "greedy": "greedy.keras", "stacked": "stacked.keras"}


@dataclass
class Member:
    """One member: a trial's best checkpoint or one of its snapshots."""

    name: str
    model_path: Path
    image_size: int
    resize: str = "squash"
    val_fraction: float = 0.1
    recorded_test_accuracy: float | None = None
    info: dict[str, Any] = field(default_factory=dict)  # trial number, rank, W&B run id...


@dataclass
class DataAccess:
    """How to read the dataset: ``load(size, resize, val_fraction)`` -> DatasetSplits."""

    load: Callable[[int, str, float], Any]


@dataclass
class Judged:
    kind: str
    members: list[dict[str, Any]]
    aggregations: dict[str, dict[str, Any]] = field(default_factory=dict)
    best_single: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    curve: list[list[float]] = field(default_factory=list)
    baseline_curve: list[list[float]] = field(default_factory=list)
    cost: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    input_size: int | None = None
    resize: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def build_ensemble_folder(kind: str, members: list[Member], dest: Path, *, data: DataAccess | None = None,
                          baseline: list[Member] | None = None, best: Member | None = None) -> Judged:
    """Write the ensemble folder and return its judgement (figures only when ``data`` is given).

    ``best``: the best single model to compare with (default: the first member); ``baseline``: independently
    trained copies of the best configuration, the best itself first."""
    from ..models.io import save_model

    dest.mkdir(parents=True, exist_ok=True)
    models = [_load(m.model_path) for m in members]
    side, classes = graph.check_members(models)
    lead = members[0]
    judged = Judged(kind=kind, members=[_member_row(m) for m in members], input_size=side, resize=lead.resize)
    judged.notes += _mismatch_notes(members, side)
    save_model(graph.build_mean(models), dest / FILES["mean"])
    judged.aggregations["mean"] = {"file": FILES["mean"], "weights": [1 / len(members)] * len(members)}
    judged.cost = _cost(models, classes)
    if data is None:
        judged.notes.append("not fitted or measured: pass --data ROOT (greedy and stacked need the validation split)")
        return judged
    splits = data.load(side, lead.resize, lead.val_fraction)
    probe = graph.members_model(models)
    val = member_probs(probe, splits.x_val)
    weights = aggregate.greedy_weights(val, splits.y_val)
    try:
        stacker = aggregate.fit_stacker(val, splits.y_val, classes)
    except ValueError as err:
        stacker = None
        judged.notes.append(f"no stacked ensemble: {err}")
    # every fit is done: from here on the test split may be read
    save_model(graph.build_weighted(models, weights), dest / FILES["greedy"])
    judged.aggregations["greedy"] = {"file": FILES["greedy"], "weights": weights.tolist()}
    fitted = {"mean": lambda p: p.mean(axis=0), "greedy": lambda p: aggregate.weighted(p, weights)}
    if stacker is not None:
        save_model(graph.build_stacked(models, *stacker), dest / FILES["stacked"])
        judged.aggregations["stacked"] = {"file": FILES["stacked"], "fit": "sklearn LogisticRegression (multinomial)"}
        fitted["stacked"] = lambda p: aggregate.stacked(p, *stacker)
    for name, combine in fitted.items():
        judged.aggregations[name]["val_accuracy"] = aggregate.accuracy(combine(val), splits.y_val)
    _judge_on_test(judged, probe, splits, fitted, best or members[0], data, baseline)
    return judged


def member_probs(model: Any, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """(members, images, classes): every output of a ``members_model`` over ``x``, one batch at a time."""
    chunks = []
    for i in range(0, len(x), batch_size):
        out = model.predict_on_batch(np.asarray(x[i:i + batch_size], dtype="float32"))
        chunks.append(np.stack([np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]))
    return np.concatenate(chunks, axis=1).astype("float64")


def _judge_on_test(judged: Judged, probe: Any, splits: Any, fitted: dict, best: Member,
                   data: DataAccess, baseline: list[Member] | None) -> None:
    labels = splits.y_test
    if not len(labels):
        judged.notes.append("the dataset has no test images: nothing measured on test")
        return
    test = member_probs(probe, splits.x_test)
    for row, probs in zip(judged.members, test):
        row["test_accuracy"] = aggregate.accuracy(probs, labels)
    for name, combine in fitted.items():
        judged.aggregations[name]["test_accuracy"] = aggregate.accuracy(combine(test), labels)
    judged.curve = [[n, aggregate.accuracy(test[:n].mean(axis=0), labels)] for n in range(1, len(test) + 1)]
    judged.best_single = {"name": best.name, "test_accuracy": _own_accuracy(best, data)}
    if baseline and len(baseline) >= 2:
        _judge_baseline(judged, baseline, data)


def _judge_baseline(judged: Judged, baseline: list[Member], data: DataAccess) -> None:
    """The mean of the first n copies of the best configuration, at their own input (after every fit)."""
    models = [_load(m.model_path) for m in baseline]
    own = data.load(graph.check_members(models)[0], baseline[0].resize, baseline[0].val_fraction)
    copies = member_probs(graph.members_model(models), own.x_test)
    judged.baseline_curve = [[n, aggregate.accuracy(copies[:n].mean(axis=0), own.y_test)]
                             for n in range(1, len(copies) + 1)]
    n = min(len(copies), len(judged.members))
    judged.baseline = {"members": [m.name for m in baseline[:n]], "count": n,
                       "test_accuracy": judged.baseline_curve[n - 1][1], "complete": n == len(judged.members)}


def _own_accuracy(member: Member, data: DataAccess) -> float:
    """The member alone, as it was trained: its own image size and resize mode."""
    splits = data.load(member.image_size, member.resize, member.val_fraction)
    probs = member_probs(_load(member.model_path), splits.x_test)[0]
    return aggregate.accuracy(probs, splits.y_test)


def _load(path: Path) -> Any:
    from ..models.io import load_model

    return load_model(path, compile=False)


def _member_row(member: Member) -> dict[str, Any]:
    return {"name": member.name, "image_size": member.image_size, "resize": member.resize,
            "recorded_test_accuracy": member.recorded_test_accuracy, **member.info}


def _mismatch_notes(members: list[Member], side: int) -> list[str]:
    notes = []
    lead = members[0]
    for m in members:
        if m.image_size != side:
            notes.append(f"{m.name} takes {m.image_size} px: resized from the ensemble's {side} px inside the model")
        if m.resize != lead.resize:
            notes.append(f"{m.name} was trained with resize {m.resize}, the ensemble's input is {lead.resize}ed: "
                         "it sees a differently framed image than in training")
        if m.val_fraction != lead.val_fraction:
            notes.append(f"{m.name} held out val_fraction {m.val_fraction}, not {lead.val_fraction}: the "
                         "validation split the aggregation is fitted on overlaps its training images")
    return notes


def _cost(models: list[Any], classes: int) -> dict[str, Any]:
    """Analytic params and FLOPs per image (models/summary.py) of the members, one member and the whole."""
    from ..models.summary import summarize_model

    summaries = [summarize_model(m) for m in models]
    head_flops = 2 * classes * classes * len(models)  # the weighted/stacked Dense (the mean costs less)
    return {"member_params": [s.total_params for s in summaries], "member_flops": [s.total_flops for s in summaries],
            "one_member_params": summaries[0].total_params, "one_member_flops": summaries[0].total_flops,
            "ensemble_params": sum(s.total_params for s in summaries) + classes * classes * len(models) + classes,
            "ensemble_flops": sum(s.total_flops for s in summaries) + head_flops}
