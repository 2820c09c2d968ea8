"""Re-run the pruning decisions on a finished sweep's curves: what other rungs would have cut and saved.

Pure: curves in (``Curve``: epoch → value and epoch → seconds, as the trials reported them), a
``Replay`` out. Trials are replayed one after the other in claim order, each judged at every rung
against the trials before it that reached that rung (``engine.pruning.decide``, the live pruner's
rule). Two limits, said in the output: parallel agents also compared trials running at the same time
(a replay of one agent's order is an approximation), and a trial the real run pruned has no epochs past
that point, so when the replayed rules would have kept it, what it would have scored and cost after is
unknown (counted as run to where it stopped: the savings are a lower bound there).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .pruning import Decision, Ladder, decide


@dataclass(frozen=True)
class Curve:
    """One search trial of the finished sweep."""

    number: int
    state: str  # finished, pruned, ... (what really happened)
    values: dict[int, float]  # epoch → the sweep's metric, as reported
    epoch_s: dict[int, float] = field(default_factory=dict)  # epoch → seconds (missing: the sweep's mean)
    value: float | None = None  # its result, when it finished


@dataclass(frozen=True)
class Replayed:
    number: int
    state: str
    ran: int  # epochs it really trained
    cut_at: int | None  # the rung the replayed rules prune it at (None: kept)
    decision: Decision | None  # the pruning decision, or the last rung it passed
    unknown_after: bool  # really pruned at ``ran`` but kept by the replay: its later epochs are unknown
    saved_epochs: int
    saved_s: float


@dataclass(frozen=True)
class Replay:
    ladder: Ladder
    goal: str
    trials: list[Replayed]
    epochs: int  # epochs the sweep really trained
    seconds: float
    best: int | None  # the real best finished trial
    best_cut_at: int | None  # where the replayed rules prune it (None: it survives)

    @property
    def saved_epochs(self) -> int:
        return sum(t.saved_epochs for t in self.trials)

    @property
    def saved_s(self) -> float:
        return sum(t.saved_s for t in self.trials)

    @property
    def cut(self) -> list[Replayed]:
        return [t for t in self.trials if t.cut_at is not None]

    @property
    def unknown(self) -> list[Replayed]:
        return [t for t in self.trials if t.unknown_after]


def _seconds(curve: Curve, epoch: int, mean_s: float) -> float:
    return float(curve.epoch_s.get(epoch, mean_s))


def replay(curves: list[Curve], ladder: Ladder, goal: str) -> Replay:
    """Judge every curve, in claim order, by ``ladder``'s rungs."""
    known = [s for c in curves for s in c.epoch_s.values()]
    mean_s = sum(known) / len(known) if known else 0.0
    seen: list[dict[int, float]] = []  # the replayed curves so far, cut where the replay prunes them
    out: list[Replayed] = []
    for curve in sorted(curves, key=lambda c: c.number):
        ran = max(curve.values, default=0)
        cut_at, last = None, None
        for rung in ladder.rungs:
            decision = decide(curve.values, seen, rung, ladder, goal)
            if decision is None:
                continue
            last = decision
            if decision.pruned:
                cut_at = rung
                break
        kept = {e: v for e, v in curve.values.items() if cut_at is None or e <= cut_at}
        seen.append(kept)
        saved = [e for e in curve.values if cut_at is not None and e > cut_at]
        out.append(Replayed(curve.number, curve.state, ran, cut_at, last,
                            cut_at is None and curve.state == "pruned",
                            len(saved), sum(_seconds(curve, e, mean_s) for e in saved)))
    finished = [c for c in curves if c.state == "finished" and c.value is not None]
    best = None
    if finished:
        pick = max if goal == "maximize" else min
        best = pick(finished, key=lambda c: (c.value, -c.number)).number
    best_cut = next((t.cut_at for t in out if t.number == best), None)
    return Replay(ladder, goal, out, sum(max(c.values, default=0) for c in curves),
                  sum(_seconds(c, e, mean_s) for c in curves for e in c.values), best, best_cut)
