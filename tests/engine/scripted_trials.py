"""A trial process that follows a scripted curve: the engine's bookkeeping (target, pruning, records) tested
with real Optuna storage and the real agent loop, without training a model."""

from inat_cnn.errors import TrialPruned


def scripted_child(curves, key="dropout"):
    """A stand-in for ``engine.trial_process.run_in_child``: the curve ``curves[config[key]]`` (validation
    accuracy per epoch), one report per epoch, the agent's answer obeyed (prune: TrialPruned; stop: training
    ends after this epoch), and the result a finished trial sends back."""
    def run(job, on_epoch, stop=None, **_):  # last=: whether a warm spare follows (none here)
        curve, metric, seen = curves[job["config"][key]], job["metric"], []
        for epoch, value in enumerate(curve, start=1):
            seen.append(value)
            verdict = on_epoch(epoch, {metric: value, "loss": 1 - value, "epoch_time_s": 0.5})
            if verdict is True or verdict == "prune":
                raise TrialPruned(epoch)
            if verdict == "stop":
                break
        best = max(seen)
        return {metric: best, "best_value": best, "best_epoch": seen.index(best) + 1, "epochs_run": len(seen)}

    return run
