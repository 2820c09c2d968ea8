"""One trial: data → model → fit (wandb, best checkpoint, NaN guard, pruning hook) → test → artefacts."""

from .trial import phase_plan, run_trial

__all__ = ["phase_plan", "run_trial"]
