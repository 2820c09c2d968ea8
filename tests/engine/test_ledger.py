"""Budget, grid coverage and claim conflicts over plain Optuna trial records."""

import optuna
from optuna.trial import TrialState, create_trial

from inat_cnn.engine import ledger

D = optuna.distributions.CategoricalDistribution([8, 16])


def t(number, state, grid_id=None, value=None, retry_of=None, **user_attrs):
    system = {}
    if grid_id is not None:
        system["grid_id"] = grid_id
    if retry_of is not None:
        system.update(failed_trial=retry_of, retry_history=[retry_of])
    tr = create_trial(state=state, value=value if state == TrialState.COMPLETE else None,
                      params={"filters": 8}, distributions={"filters": D}, system_attrs=system,
                      user_attrs=user_attrs)
    tr.number = number
    return tr


def test_requeued_and_discarded_trials_do_not_use_the_budget():
    trials = [t(0, TrialState.COMPLETE, 0, 0.5), t(1, TrialState.FAIL, 1, preempted=True),
              t(2, TrialState.COMPLETE, 1, 0.6, retry_of=1), t(3, TrialState.FAIL, 0, discarded=True),
              t(4, TrialState.RUNNING, 2)]
    assert [x.number for x in ledger.counted(trials)] == [0, 2, 4]
    assert ledger.budget_left(trials, 4) == 1
    assert ledger.budget_left(trials, None) == float("inf")


def test_grid_exhaustion_waits_for_requeued_points():
    done = [t(0, TrialState.COMPLETE, 0, 0.5), t(1, TrialState.FAIL, 1, preempted=True)]
    assert not ledger.grid_exhausted(done, 2)  # point 1 only ran as a preempted (re-queued) trial...
    waiting = done + [t(2, TrialState.WAITING, 1, retry_of=1)]
    assert not ledger.grid_exhausted(waiting, 2)
    finished = done + [t(2, TrialState.COMPLETE, 1, 0.7, retry_of=1)]
    assert ledger.grid_exhausted(finished, 2)


def test_claim_conflicts():
    trials = [t(0, TrialState.COMPLETE, 0, 0.5), t(1, TrialState.RUNNING, 1), t(2, TrialState.RUNNING, 1)]
    assert "grid point 1" in ledger.claim_conflict(trials, trials[2], None)
    assert ledger.claim_conflict(trials, trials[1], None) is None
    capped = [t(0, TrialState.COMPLETE, value=0.5), t(1, TrialState.RUNNING), t(2, TrialState.RUNNING)]
    assert "run_cap 2" in ledger.claim_conflict(capped, capped[2], 2)
    retry = t(3, TrialState.RUNNING, 1, retry_of=1)
    assert ledger.claim_conflict(trials + [retry], retry, 1) is None


def test_rows_put_the_best_first_and_explain_failures():
    trials = [t(0, TrialState.COMPLETE, value=0.5), t(1, TrialState.COMPLETE, value=0.9),
              t(2, TrialState.FAIL, fail_reason="loss became NaN at epoch 2"), t(3, TrialState.PRUNED),
              t(4, TrialState.FAIL), t(5, TrialState.WAITING, retry_of=4)]
    rows = ledger.rows(trials, "maximize")
    assert [r.number for r in rows] == [1, 0, 5, 3, 2, 4]
    notes = {r.number: r.note for r in rows}
    assert "NaN" in notes[2] and "no heartbeat" in notes[4] and "re-run of trial 4" in notes[5]
    assert [r.number for r in ledger.rows(trials, "minimize")][:2] == [0, 1]
