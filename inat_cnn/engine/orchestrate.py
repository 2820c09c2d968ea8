"""Sweep orchestration shared by `sweep create|run|status` and `demo`: a file's sweep created or continued,
local agents run on it, and its state read back. No terminal output: messages go to ``log``, and the
command line renders the state (cli/status_view.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..workspace import Workspace

Log = Callable[[str], None]
STATES = ("finished", "running", "waiting", "pruned", "failed")


def create_sweep_from_file(file: Path, backend: str, storage: str | None, workspace: Workspace,
                           data: str | None = None, new: bool = False, seed: int | None = None,
                           log: Log = print, pruning: Any = None) -> str:
    """Validate FILE and create its sweep on the chosen backend, its proposals seeded ``seed``, its local
    pruning options ``pruning`` (a ``pruning.PruningOptions``; None: the defaults); the sweep id.

    On the local engine a sweep made earlier from the same spec (same content hash) is continued, and said
    so through ``log``, unless ``new``; a ``seed`` or ``pruning`` other than that sweep's is refused."""
    from ..spec import load_sweep

    validated = load_sweep(file)
    if backend == "wandb":
        from . import wandb_backend

        if seed is not None:
            raise UserError(f"--seed {seed}: W&B's sweep controller takes no seed (it proposes the points); "
                            "seed the local engine's sweeps instead (--backend local)")
        if pruning is not None:
            raise UserError("--prune-judge/--prune-rungs set the local engine's pruner; W&B's sweeps keep W&B's "
                            "own hyperband (leave them out, or use --backend local)")
        return wandb_backend.create(validated, data_root=data)
    import optuna

    from . import pruning as prune
    from . import sweep_data
    from .storage import open_storage, sweep_seed
    from .sweep_identity import create_or_continue

    if data and not Path(data).is_dir():
        raise UserError(f"--data {data}: no such dataset folder")
    if not storage and not (workspace.root / "sweeps.db").exists():
        workspace.ensure()  # a new sweeps.db needs its folder; an existing one is checked first (damaged, read-only)
    store = open_storage(storage or workspace.db_url)
    choice = create_or_continue(validated, store, new=new, seed=seed)
    study = optuna.load_study(study_name=choice.sweep_id, storage=store)
    if choice.existed:
        _check_same_seed(choice.sweep_id, sweep_seed(study), seed)
        _check_same_pruning(choice.sweep_id, prune.pruning_options(study.user_attrs), pruning)
        done = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
        log(f"sweep {choice.sweep_id} was already made from this file (same spec, hash "
            f"{study.user_attrs.get('spec_hash', '?')[:12]}; {done} trial(s) finished): continuing it. Pass --new "
            "for a new sweep")
        if data:
            sweep_data.bind(study, data, log)  # refuses another dataset; adopts one if it has none
    else:  # stored now, so that a later change of the defaults cannot change a running sweep's pruning
        prune.store_options(study, pruning or prune.PruningOptions())
        if data:
            sweep_data.state(study, data)
    return choice.sweep_id


def _check_same_pruning(sweep_id: str, stored: Any, asked: Any) -> None:
    if asked is None or asked == stored:
        return
    raise UserError(f"--prune-judge {asked.judge} --prune-rungs {asked.rungs}: sweep {sweep_id}, made from this "
                    f"file, prunes with judge {stored.judge} and rungs {stored.rungs}, and its trials so far were "
                    "judged that way: pass --new for a new sweep, or leave the options out to continue this one")


def _check_same_seed(sweep_id: str, stored: int | None, asked: int | None) -> None:
    if asked is None or asked == stored:
        return
    made = f"with seed {stored}" if stored is not None else "without a seed"
    raise UserError(f"--seed {asked}: sweep {sweep_id}, made from this file, was made {made}, and its proposals "
                    f"so far came from it: pass --new for a new sweep seeded {asked}, or leave --seed out to "
                    "continue this one")


@dataclass(frozen=True)
class SweepState:
    """What `sweep status` and the live table show of a sweep."""

    sweep_id: str
    method: str
    metric: str
    goal: str
    rows: list[Any]  # engine.ledger rows, best first
    dataset: str  # one line: root, classes, files, fingerprint
    seed: int | None
    stopped_reason: str | None
    settled: tuple[tuple[int, int], ...] = ()  # (trial whose agent died, its re-queued copy), settled by this read
    pruning: str = ""  # one line: the local pruner's rungs and judge; empty without early_terminate

    @property
    def counts(self) -> dict[str, int]:
        return {s: n for s in STATES if (n := sum(r.state == s for r in self.rows))}


def sweep_state(study: Any, validated: Any, settled: Any = ()) -> SweepState:
    """The state of an open sweep (``settled``: what ``recovery.settle`` just re-queued)."""
    from . import ledger, pruning, sweep_data
    from .storage import sweep_seed

    attrs = study.user_attrs
    rows = ledger.rows(study.get_trials(deepcopy=False), attrs.get("goal", "maximize"))
    spec = validated.spec
    return SweepState(study.study_name, spec.method, attrs.get("metric", "value"),
                      spec.metric.goal if spec.metric else "", rows, sweep_data.summary(attrs.get(sweep_data.KEY)),
                      sweep_seed(study), attrs.get("stopped_reason"), tuple(settled),
                      _pruning_line(validated.spec, pruning.pruning_options(attrs)))


def _pruning_line(spec: Any, options: Any) -> str:
    et = spec.early_terminate
    if et is None:
        return ""
    return (f"pruning: hyperband eta {et.eta:g}, rungs {options.rungs} (min_iter {et.min_iter}, max_iter "
            f"{et.max_iter}), judged on the {'best epoch so far' if options.judge == 'best' else 'rung epoch'}")


def read_state(sweep_id: str, storage: str | None, workspace: Workspace) -> SweepState:
    """A sweep's state, after settling trials whose agent died (failed and re-queued, exactly once)."""
    from . import recovery
    from .storage import GRACE_S, load_study, open_storage

    study, validated = load_study(sweep_id, open_storage(storage or workspace.db_url, must_exist=True))
    return sweep_state(study, validated, recovery.settle(study, GRACE_S))


def run_agents_on(sweep_id: str, data: Path, workspace: Workspace, *, agents: int, storage: str | None,
                  extra: list[str], gpus: list[str] | None = None,
                  on_tick: Callable[[SweepState], None] | None = None) -> list[int]:
    """Run ``agents`` agent processes on a local sweep until they exit; their exit codes. ``on_tick`` gets the
    sweep's state every few seconds (a killed agent's trial is re-queued meanwhile)."""
    from . import recovery
    from .launcher import run_agents
    from .storage import GRACE_S, load_study, open_storage

    study, validated = load_study(sweep_id, open_storage(storage or workspace.db_url, must_exist=True))

    def tick() -> None:
        if on_tick is not None:
            on_tick(sweep_state(study, validated, recovery.settle(study, GRACE_S)))

    return run_agents(sweep_id, data, workspace, agents=agents, storage_url=storage, extra=extra, on_tick=tick,
                      gpus=gpus)
