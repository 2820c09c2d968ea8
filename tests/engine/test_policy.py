"""The agent's decisions from plain data: trial records, the sweep's rules, what a trial raised."""

import optuna
import pytest
from optuna.trial import TrialState, create_trial

from inat_cnn.engine import policy
from inat_cnn.errors import EnvironmentFault, Preempted, TrialFailed, TrialPruned, UserError
from inat_cnn.spec import validate_sweep_dict

D = optuna.distributions.CategoricalDistribution([8, 16])


def t(number, state, grid_id=None, **user_attrs):
    tr = create_trial(state=state, value=0.5 if state == TrialState.COMPLETE else None, params={"filters": 8},
                      distributions={"filters": D}, system_attrs={} if grid_id is None else {"grid_id": grid_id},
                      user_attrs=user_attrs)
    tr.number = number
    return tr


def test_rules_come_from_the_spec():
    spec = validate_sweep_dict({"method": "grid", "run_cap": 7, "parameters": {
        "model": {"value": "scratch"}, "filters": {"values": [8, 16]}},
        "metric": {"name": "val_loss", "goal": "minimize", "target": 0.1}}).spec
    assert policy.Rules.of(spec) == policy.Rules(metric="val_loss", goal="minimize", target=0.1, run_cap=7,
                                                 method="grid", grid_size=2)


def test_the_target_is_reached_by_the_first_value_on_the_right_side_of_it():
    up = policy.Rules(target=0.9)
    assert policy.target_hit(up, 3, 4, 0.9) == policy.TargetHit(trial=3, epoch=4, value=0.9, target=0.9)
    assert policy.target_hit(up, 3, 4, 0.89) is None
    assert policy.target_hit(up, 3, 4, float("nan")) is None
    assert policy.target_hit(up, 3, 4, 0.95, seed_trial=True) is None  # a seed-ensemble trial is not the search
    assert policy.target_hit(policy.Rules(), 3, 4, 1.0) is None  # no target
    down = policy.Rules(goal="minimize", target=0.2)
    assert policy.target_hit(down, 1, 2, 0.19) is not None and policy.target_hit(down, 1, 2, 0.21) is None
    hit = policy.target_hit(up, 3, 4, 0.95)
    assert policy.TargetHit.from_attr(hit.as_attr()) == hit
    assert hit.reason == "metric target 0.9 reached by trial 3 at epoch 4 (0.95)"


def test_an_epoch_that_reaches_the_target_ends_the_trial_as_finished_never_pruned():
    hit = policy.TargetHit(1, 2, 0.97, 0.95)
    assert policy.epoch_verdict(hit, should_prune=True, seed_trial=False) == policy.STOP
    assert policy.epoch_verdict(None, should_prune=True, seed_trial=False) == policy.PRUNE
    assert policy.epoch_verdict(None, should_prune=True, seed_trial=True) is None  # seed trials run to the end
    assert policy.epoch_verdict(None, should_prune=False, seed_trial=False) is None


def test_the_sweep_stops_at_its_target_run_cap_or_grid_and_a_stop_is_read_not_written():
    rules = policy.Rules(run_cap=2)
    two = [t(0, TrialState.COMPLETE), t(1, TrialState.RUNNING)]
    assert policy.sweep_stop(two[:1], rules, {}) is None
    assert policy.sweep_stop(two, rules, {}) == "run_cap of 2 trials reached"
    assert policy.sweep_stop(two + [t(2, TrialState.WAITING)], rules, {}) is None  # a re-queued point still runs
    hit = policy.TargetHit(0, 3, 0.99, 0.95).as_attr()
    attrs = {policy.TARGET_KEY: hit}
    assert policy.sweep_stop([], policy.Rules(), attrs) == "metric target 0.95 reached by trial 0 at epoch 3 (0.99)"
    assert attrs == {policy.TARGET_KEY: hit}
    assert policy.sweep_stop([], policy.Rules(), {policy.STOPPED_KEY: "stopped by hand"}) == "stopped by hand"
    grid = policy.Rules(method="grid", grid_size=2)
    assert policy.sweep_stop([t(0, TrialState.COMPLETE, 0)], grid, {}) is None
    assert policy.sweep_stop([t(0, TrialState.COMPLETE, 0), t(1, TrialState.RUNNING, 1)], grid, {}) == \
        "every grid point has been claimed"


def test_an_agent_stops_at_its_count_or_a_signal_before_touching_the_storage():
    tally = policy.Tally(finished=[0], pruned=[1], failed=[(2, "NaN")])
    assert policy.agent_stop(tally, 3, stop_requested=False) == "ran --count 3 trials"
    assert policy.agent_stop(tally, 4, stop_requested=True) == "preempted by a signal"
    assert policy.agent_stop(tally, None, stop_requested=False) is None


@pytest.mark.parametrize("err, state, kind", [
    (None, TrialState.COMPLETE, policy.FINISHED),
    (None, TrialState.PRUNED, policy.PRUNED),
    (TrialFailed("loss became NaN"), None, policy.FAILED),
    (UserError("image too small"), None, policy.FAILED),
    (ValueError("a bug"), None, policy.FAILED),
    (Preempted(), None, policy.PREEMPTED),
    (EnvironmentFault("dataset gone", what="data"), None, policy.FAULT),
    (TrialPruned(3), None, policy.PRUNED),
    (policy.Discarded("grid point 3 is trained by trial 1", final=False), None, policy.SKIPPED),
    (policy.Discarded("run_cap 4 reached by other agents", final=True), None, policy.FULL),
    (optuna.exceptions.UpdateFinishedTrialError("finished"), None, policy.LOST),
])
def test_every_way_a_trial_ends_is_sorted_in_one_place(err, state, kind):
    assert policy.kind_of(err, state) == kind


def test_failures_in_a_row_give_up_and_a_result_resets_the_count():
    tally = policy.Tally()
    assert policy.after_trial(policy.FAILED, tally, 0, "NaN", 2) == policy.Step()
    assert policy.after_trial(policy.FINISHED, tally, 1) == policy.Step()
    assert tally.consecutive_failures == 0
    assert policy.after_trial(policy.SKIPPED, tally, 2, "grid point taken") == policy.Step()
    assert policy.after_trial(policy.FAILED, tally, 3, "NaN", 2) == policy.Step()
    assert policy.after_trial(policy.LOST, tally, 4) == policy.Step()  # neither a result nor a failure
    assert policy.after_trial(policy.FAILED, tally, 5, "OOM", 2) == policy.Step(give_up=True)
    assert tally.finished == [1] and tally.failed == [(0, "NaN"), (3, "NaN"), (5, "OOM")] and tally.ran == 4


def test_a_signal_or_a_fault_requeues_the_point_and_a_full_sweep_stops():
    tally = policy.Tally()
    assert policy.after_trial(policy.PREEMPTED, tally, 0) == policy.Step(stop="preempted by a signal",
                                                                         requeue="preempted")
    assert policy.after_trial(policy.FAULT, tally, 1) == policy.Step(requeue="hit an environment fault",
                                                                     raise_fault=True)
    assert policy.after_trial(policy.FULL, tally, 2, "run_cap 4 reached by other agents") == \
        policy.Step(stop="run_cap 4 reached by other agents")
    assert tally.ran == 0  # none of them is a result or a failure of the configuration
