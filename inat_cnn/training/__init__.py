"""One trial: data → model → fit (wandb, best checkpoint, NaN guard, pruning hook) → test → artefacts."""

from .trial import TrialResult, phase_plan, run_trial

__all__ = ["TrialResult", "phase_plan", "run_trial"]
