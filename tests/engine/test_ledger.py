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


def test_cap_conflicts():
    capped = [t(0, TrialState.COMPLETE, value=0.5), t(1, TrialState.RUNNING), t(2, TrialState.RUNNING)]
    assert "run_cap 2" in ledger.cap_conflict(capped, capped[2], 2)
    assert ledger.cap_conflict(capped, capped[1], 2) is None and ledger.cap_conflict(capped, capped[2], None) is None
    retry = t(3, TrialState.RUNNING, 1, retry_of=1)
    assert ledger.cap_conflict(capped + [retry], retry, 1) is None


def test_points_that_run_again_by_themselves_and_failed_points_to_requeue():
    trials = [t(0, TrialState.FAIL, 0), t(1, TrialState.FAIL, 1, preempted=True, fail_reason="preempted"),
              t(2, TrialState.FAIL, 2, env_fault="data", fail_reason="environment (data): gone"),
              t(3, TrialState.FAIL, 3, fail_reason="loss became NaN at epoch 2"),
              t(4, TrialState.FAIL, 4, discarded=True), t(5, TrialState.FAIL, 5, fail_reason="too small"),
              t(6, TrialState.WAITING, 5, retry_of=5)]
    assert [ledger.requeue_reason(x) for x in trials[:5]] == [
        "agent lost (no heartbeat)", "preempted", "environment fault", None, None]
    assert [x.number for x in ledger.counted(trials)] == [0, 3]  # env faults and preemptions are no result
    # point 5 already has a queued copy; 0, 1, 2 re-run by themselves but are failed points too
    assert [x.number for x in ledger.failed_points(trials)] == [0, 1, 2, 3]
    assert [x.number for x in ledger.failed_points(trials, reason="nan")] == [3]


def test_rows_put_the_best_first_and_explain_failures():
    trials = [t(0, TrialState.COMPLETE, value=0.5), t(1, TrialState.COMPLETE, value=0.9),
              t(2, TrialState.FAIL, fail_reason="loss became NaN at epoch 2"), t(3, TrialState.PRUNED),
              t(4, TrialState.FAIL), t(5, TrialState.WAITING, retry_of=4)]
    rows = ledger.rows(trials, "maximize")
    assert [r.number for r in rows] == [1, 0, 3, 5, 2, 4]  # finished, pruned, running, waiting, failed
    notes = {r.number: r.note for r in rows}
    assert "NaN" in notes[2] and "no heartbeat" in notes[4] and "re-run of trial 4" in notes[5]
    assert [r.number for r in ledger.rows(trials, "minimize")][:2] == [0, 1]
