"""The local engine in one process: real Optuna storage, real training on tiny data."""

import csv
import re

import optuna
import pytest
from optuna.trial import TrialState

from inat_cnn.engine.agent import run_agent
from inat_cnn.engine.storage import load_study
from inat_cnn.errors import SweepStop
from inat_cnn.workspace import Workspace


def trials_of(ws, sweep_id):
    study, _ = load_study(sweep_id, ws.db_url)
    return study, sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)


@pytest.mark.slow
def test_failing_trials_are_recorded_and_the_sweep_goes_on(tmp_path, tiny_data, make_sweep):
    ws = Workspace(tmp_path / "ws")
    # 5 valid-padded blocks cannot fit 16 px (the trial raises); learning rate 1e10 with sgd turns the loss NaN
    sweep = make_sweep(ws, parameters={"padding": {"value": "valid"}, "optimizer": {"value": "sgd"},
                                       "conv_blocks": {"values": [5, 2]}, "learning_rate": {"values": [1e10, 0.01]}})
    report = run_agent(sweep, tiny_data, workspace=ws, max_consecutive_failures=4, log=lambda m: None)
    _, trials = trials_of(ws, sweep)
    by_params = {(t.params["conv_blocks"], t.params["learning_rate"]): t for t in trials}
    assert len(trials) == 4 and len(by_params) == 4  # every grid point exactly once
    assert "NaN" in by_params[(2, 1e10)].user_attrs["fail_reason"]
    assert "too small" in by_params[(5, 0.01)].user_attrs["fail_reason"]
    ok = by_params[(2, 0.01)]
    assert ok.state == TrialState.COMPLETE and len(report.failed) == 3 and report.finished == [ok.number]
    assert (ws.runs / sweep / f"trial-{ok.number:04d}" / "model.keras").is_file()
    assert ok.user_attrs["trial_dir"].endswith(f"trial-{ok.number:04d}")
    assert 0 < ok.user_attrs["startup_s"] < ok.user_attrs["claim_to_end_s"]
    with open(ws.runs / sweep / f"trial-{ok.number:04d}" / "history.csv", newline="") as f:
        val_accuracy = [float(row["val_accuracy"]) for row in csv.DictReader(f)]
    assert ok.value == pytest.approx(max(val_accuracy))  # the sweep's metric: the best epoch's val_accuracy


@pytest.mark.slow
def test_agent_stops_after_consecutive_failures_and_keeps_the_rest_queued(tmp_path, tiny_data, make_sweep):
    ws = Workspace(tmp_path / "ws")
    # every point fails at once: 5 valid-padded blocks cannot fit 16 px
    sweep = make_sweep(ws, parameters={"padding": {"value": "valid"}, "conv_blocks": {"value": 5},
                                       "dense_units": {"values": [4, 8, 12]}})
    with pytest.raises(SweepStop, match="2 consecutive failed trials"):
        run_agent(sweep, tiny_data, workspace=ws, max_consecutive_failures=2, log=lambda m: None)
    _, trials = trials_of(ws, sweep)
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.FAIL]


@pytest.mark.slow
def test_hyperband_prunes_trials_that_lag_behind(tmp_path, tiny_data, make_sweep):
    ws = Workspace(tmp_path / "ws")
    # one bracket (epochs 2, min_iter 1, eta 3), its rung at epoch 1
    sweep = make_sweep(ws, method="random", metric=("val_loss", "minimize"),
                       early_terminate={"type": "hyperband", "min_iter": 1, "eta": 3},
                       parameters={"epochs": {"value": 2}, "learning_rate": {"values": [0.02, 1e-9, 1.1e-9]}})
    study = optuna.load_study(study_name=sweep, storage=ws.db_url)
    for lr in (0.02, 1e-9, 1.1e-9):  # the good one first, so the hopeless ones have something to lose to
        study.enqueue_trial({"learning_rate": lr})
    report = run_agent(sweep, tiny_data, workspace=ws, count=3, log=lambda m: None)
    _, trials = trials_of(ws, sweep)
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    assert pruned, [(t.params, t.intermediate_values) for t in trials]
    assert sorted(t.params["learning_rate"] for t in pruned) == [1e-9, 1.1e-9]
    assert all(len(t.intermediate_values) == 1 for t in pruned)  # stopped after the rung epoch
    assert set(report.pruned) == {t.number for t in pruned}


@pytest.mark.slow
def test_metric_target_stops_the_sweep(tmp_path, tiny_data, make_sweep):
    ws = Workspace(tmp_path / "ws")
    sweep = make_sweep(ws, method="random", metric=("val_accuracy", "maximize"),
                       parameters={"dropout": {"min": 0.0, "max": 0.5}})
    study = optuna.load_study(study_name=sweep, storage=ws.db_url)
    study.set_user_attr("spec", {**study.user_attrs["spec"],
                                 "metric": {"name": "val_accuracy", "goal": "maximize", "target": 0.0}})
    report = run_agent(sweep, tiny_data, workspace=ws, log=lambda m: None)
    study, trials = trials_of(ws, sweep)
    assert len(trials) == 1 and "target" in report.stop_reason
    stopped = study.user_attrs["stopped_reason"]
    assert re.match(rf"metric target 0(\.0)? reached by trial {trials[0].number} at epoch 1\b", stopped), stopped
