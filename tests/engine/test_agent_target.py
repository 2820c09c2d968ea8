"""metric.target is checked at every reported epoch of every trial: the first epoch that reaches it stops
the sweep, and the trial that reached it ends there as finished (its best checkpoint is that epoch)."""

import optuna
import pytest
from optuna.trial import TrialState
from scripted_trials import scripted_child

from inat_cnn.engine import objective, policy
from inat_cnn.engine.agent import run_agent
from inat_cnn.engine.storage import load_study
from inat_cnn.report.results import load_local_sweep
from inat_cnn.workspace import Workspace

# validation accuracy per epoch, by dropout: 0.2 crosses the target 0.95 at epoch 2, then falls. The old code
# checked the target only when a trial finished; hyperband could prune this one at its epoch-3 rung (0.40 on
# that epoch's value), and the sweep went on to claim 0.3
CURVES = {0.1: [0.60, 0.70, 0.80, 0.85, 0.88, 0.90, 0.90, 0.90, 0.91],
          0.2: [0.65, 0.97, 0.40, 0.30, 0.30, 0.30, 0.30, 0.30, 0.30],
          0.3: [0.99] * 9}


@pytest.mark.slow
def test_a_trial_that_crosses_the_target_then_drops_stops_the_sweep_at_that_epoch(tmp_path, tiny_data, make_sweep,
                                                                                  monkeypatch):
    monkeypatch.setattr(objective, "run_in_child", scripted_child(CURVES))
    ws = Workspace(tmp_path / "ws")
    sweep = make_sweep(ws, method="random", early_terminate={"type": "hyperband", "min_iter": 1, "eta": 3},
                       parameters={"epochs": {"value": 9}, "dropout": {"values": [0.1, 0.2, 0.3]}})
    study = optuna.load_study(study_name=sweep, storage=ws.db_url)
    study.set_user_attr("spec", {**study.user_attrs["spec"],
                                 "metric": {"name": "val_accuracy", "goal": "maximize", "target": 0.95}})
    for dropout in (0.1, 0.2, 0.3):  # 0.3 would reach the target too, but the sweep is over before it starts
        study.enqueue_trial({"dropout": dropout})
    report = run_agent(sweep, tiny_data, workspace=ws, log=lambda m: None)
    study, _ = load_study(sweep, ws.db_url)
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    assert [t.state for t in trials][2:] == [TrialState.WAITING]  # nothing claimed after the target epoch
    assert [t.params["dropout"] for t in trials[:2]] == [0.1, 0.2]
    crossed = trials[1]
    hit = study.user_attrs[policy.TARGET_KEY]
    assert (hit["trial"], hit["epoch"], hit["value"], hit["target"]) == (crossed.number, 2, 0.97, 0.95)
    assert crossed.state == TrialState.COMPLETE and crossed.value == 0.97
    assert sorted(crossed.intermediate_values) == [1, 2]  # it trained no epoch past the one that reached it
    assert crossed.user_attrs[policy.TARGET_KEY]["epoch"] == 2
    assert report.stop_reason == "metric target 0.95 reached by trial 1 at epoch 2 (0.97)"
    assert study.user_attrs["stopped_reason"] == report.stop_reason
    assert load_local_sweep(sweep, workspace=ws.root).best().number == crossed.number  # reported and exported


@pytest.mark.slow
def test_real_training_stops_at_the_first_epoch_that_reaches_the_target(tmp_path, tiny_data, make_sweep):
    ws = Workspace(tmp_path / "ws")
    sweep = make_sweep(ws, method="random", parameters={"epochs": {"value": 3}, "dropout": {"min": 0.0, "max": 0.5}})
    study = optuna.load_study(study_name=sweep, storage=ws.db_url)
    study.set_user_attr("spec", {**study.user_attrs["spec"],
                                 "metric": {"name": "val_accuracy", "goal": "maximize", "target": 0.0}})
    report = run_agent(sweep, tiny_data, workspace=ws, log=lambda m: None)
    study, _ = load_study(sweep, ws.db_url)
    (trial,) = study.get_trials(deepcopy=False)
    assert trial.state == TrialState.COMPLETE and sorted(trial.intermediate_values) == [1]
    assert trial.user_attrs["epochs_run"] == 1 and trial.user_attrs["best_epoch"] == 1
    assert trial.user_attrs.get("test_accuracy") is not None  # finished: its best checkpoint was tested
    assert study.user_attrs[policy.TARGET_KEY]["epoch"] == 1 and "at epoch 1" in report.stop_reason
    best = load_local_sweep(sweep, workspace=ws.root).best()
    assert best.number == trial.number and best.model_path is not None
