"""The trial record from plain data: the pure builder, the metrics.json and Optuna user-attribute schemas."""

import json

import pytest

from inat_cnn.outcome import (
    STATE_ORDER,
    TRIAL_STATES,
    USER_ATTRS,
    TrialOutcome,
    build_outcome,
    deferred_parts,
    enters_top_k,
    from_user_attrs,
    monitored_metric,
    sweep_objective,
    to_user_attrs,
    top_k_bar,
)

HISTORY = [{"epoch": 1, "phase": "train", "val_accuracy": 0.5, "val_loss": 1.2, "images_per_s": 100.0},
           {"epoch": 2, "phase": "train", "val_accuracy": 0.8, "val_loss": 0.7, "images_per_s": 300.0},
           {"epoch": 3, "phase": "train", "val_accuracy": 0.7, "val_loss": 0.9, "images_per_s": 200.0}]


def test_the_builder_takes_the_best_epoch_and_the_end_of_the_trial():
    measured = TrialOutcome(metric="val_accuracy", test_accuracy=0.75, resumed_elapsed_s=4.0, params=123,
                            feature_cache=({"phase": "train", "used": False},))
    out = build_outcome(measured, state="finished", history=HISTORY, best_row=HISTORY[1], best_value=0.8,
                        elapsed_s=10.0, stopped_early=True, stop_signal="SIGTERM")
    assert (out.state, out.best_epoch, out.best_value, out.val_accuracy, out.val_loss) == ("finished", 2, 0.8, 0.8,
                                                                                         0.7)
    assert out.epochs_run == 3 and out.wall_time_s == 14.0  # a resumed trial adds what it had run
    assert out.train_images_per_s == 300.0  # median of epochs 2-3 (the first traces the graph): [200, 300] -> 300
    assert (out.stopped_early, out.stop_signal, out.params, out.test_accuracy) == (True, "SIGTERM", 123, 0.75)
    assert measured.state == "running" and measured.epochs_run == 0  # frozen: the builder made a new record
    with pytest.raises(AttributeError):
        out.state = "failed"


def test_a_test_accuracy_sweep_is_judged_on_test_and_picks_epochs_on_validation():
    assert monitored_metric("test_accuracy", "maximize") == ("val_accuracy", "maximize")
    assert monitored_metric("val_loss", "minimize") == ("val_loss", "minimize")
    out = build_outcome(TrialOutcome(metric="test_accuracy", test_accuracy=0.6), state="finished", history=HISTORY,
                        best_row=HISTORY[1], best_value=0.8, elapsed_s=1.0)
    assert (out.best_value, out.val_accuracy) == (0.6, 0.8)


def test_a_trial_that_failed_before_training_still_builds():
    out = build_outcome(TrialOutcome(), state="failed", history=[], best_row=None, best_value=None, elapsed_s=0.5,
                        fail_reason="UserError: no dataset")
    assert (out.best_epoch, out.epochs_run, out.train_images_per_s, out.fail_reason) == (None, 0, None,
                                                                                        "UserError: no dataset")


def test_metrics_json_round_trip_from_plain_dicts():
    body = {"state": "finished", "metric": "val_loss", "goal": "minimize", "best_epoch": 2, "best_value": 0.7,
            "class_names": ["a", "b"], "feature_cache": [{"phase": "head", "used": True}], "pending": ["figures"],
            "test_accuracy": None, "a_key_from_a_newer_version": 1}
    outcome = TrialOutcome.from_json(body, history=HISTORY)
    assert outcome.class_names == ("a", "b") and outcome.pending == ("figures",) and len(outcome.history) == 3
    written = json.loads(json.dumps(outcome.to_json()))  # what metrics.json holds, through real JSON
    assert "history" not in written and "a_key_from_a_newer_version" not in written
    assert written["class_names"] == ["a", "b"] and written["feature_cache"] == [{"phase": "head", "used": True}]
    assert "viz_error" not in written and "fail_reason" not in written  # notes only when they say something
    assert written["test_accuracy"] is None and "test_accuracy" in written  # measurements always listed
    assert TrialOutcome.from_json(written) == outcome  # history is not part of the comparison
    assert TrialOutcome.from_json({"best_value": float("nan")}).to_json()["best_value"] is None


def test_the_user_attribute_schema_round_trips_and_keeps_only_its_keys():
    outcome = TrialOutcome(state="finished", best_epoch=3, epochs_run=4, test_accuracy=0.9, wandb_run_id="abc",
                           params=10, post_training="top_k")
    attrs = to_user_attrs(outcome)
    assert set(attrs) <= set(USER_ATTRS) and "params" not in attrs and "fail_reason" not in attrs
    assert json.loads(json.dumps(attrs)) == attrs  # what Optuna stores
    back = from_user_attrs({**attrs, "agent": {"pid": 1}, "trial_dir": "/x"}, "finished")
    assert to_user_attrs(back) == attrs and back.params is None and back.state == "finished"
    assert from_user_attrs({}, "running") == TrialOutcome(state="running")


def test_one_map_of_trial_states_in_one_order():
    assert list(TRIAL_STATES) == ["COMPLETE", "PRUNED", "RUNNING", "WAITING", "FAIL"]
    assert STATE_ORDER == ("finished", "pruned", "running", "waiting", "failed")


def test_the_default_metric_is_derived_once():
    class Spec:
        name, goal = "val_loss", "minimize"

    assert sweep_objective(None) == ("val_accuracy", "maximize") == sweep_objective({})
    assert sweep_objective({"name": "loss", "goal": "minimize"}) == ("loss", "minimize")
    assert sweep_objective(Spec()) == ("val_loss", "minimize")


def test_top_k_bar_and_who_enters():
    assert top_k_bar([0.5, None, 0.9], "maximize", k=3) is None  # fewer than k values: every trial enters
    assert top_k_bar([0.5, 0.7, 0.9, 0.6], "maximize", k=3) == 0.6
    assert top_k_bar([0.5, 0.7, 0.9, 0.6], "minimize", k=3) == 0.7
    assert enters_top_k(0.61, 0.6, "maximize") and not enters_top_k(0.6, 0.6, "maximize")  # a tie ranks later
    assert enters_top_k(0.69, 0.7, "minimize") and not enters_top_k(None, 0.7, "minimize")
    assert enters_top_k(None, None, "maximize")


def test_which_post_training_parts_a_trial_leaves_for_later():
    common = {"metric": "val_accuracy", "goal": "maximize", "can_defer": True, "viz": True}
    assert deferred_parts("inline", value=0.1, bar=0.9, **common) == ()
    assert deferred_parts("export", value=0.99, bar=None, **common) == ("test", "figures")
    assert deferred_parts("top_k", value=0.95, bar=0.9, **common) == ()  # enters the top k: done now
    assert deferred_parts("top_k", value=0.85, bar=0.9, **common) == ("test", "figures")
    assert deferred_parts("export", value=0.5, bar=None, **{**common, "metric": "test_accuracy"}) == ("figures",)
    assert deferred_parts("export", value=0.5, bar=None, **{**common, "viz": False}) == ("test",)
    assert deferred_parts("export", value=0.5, bar=None, **{**common, "can_defer": False}) == ()  # nobody would
    with pytest.raises(ValueError, match="post_training must be one of"):
        deferred_parts("later", value=0.5, bar=None, **common)
