"""Replaying the pruning decisions on a finished sweep's curves: from plain curves, and through the CLI."""

import optuna
import pytest
from scripted_trials import scripted_child

from inat_cnn.cli.main import main
from inat_cnn.cli.status_view import console
from inat_cnn.engine import objective
from inat_cnn.engine.agent import run_agent
from inat_cnn.engine.pruning import Ladder
from inat_cnn.engine.replay import Curve, replay
from inat_cnn.workspace import Workspace

STEADY = [0.80, 0.85, 0.90, 0.90, 0.90, 0.90, 0.90, 0.90, 0.92, 0.92]
NOISY = [0.85, 0.90, 0.986, 0.986, 0.986, 0.986, 0.986, 0.986, 0.91, 0.99]


def curve(number, values, state="finished", seconds=2.0):
    points = dict(enumerate(values, 1))
    return Curve(number, state, points, {e: seconds for e in points}, values[-1] if state == "finished" else None)


SWEEP = [curve(0, STEADY), curve(1, NOISY), curve(2, [0.5] * 10), curve(3, [0.6], state="pruned", seconds=1.0)]


def test_judging_the_rung_epoch_alone_would_cut_the_best_trial_one_epoch_before_the_end():
    on_last = replay(SWEEP, Ladder((1, 3, 9), 3.0, "last"), "maximize")
    by_trial = {t.number: t for t in on_last.trials}
    assert by_trial[1].cut_at == 9 and by_trial[1].saved_epochs == 1 and by_trial[1].saved_s == 2.0
    assert by_trial[2].cut_at == 1 and by_trial[2].saved_epochs == 9 and by_trial[2].saved_s == 18.0
    assert by_trial[0].cut_at is None and by_trial[0].decision.rung == 9  # the last rung it passed
    assert on_last.best == 1 and on_last.best_cut_at == 9
    assert (on_last.epochs, on_last.seconds, on_last.saved_epochs) == (31, 61.0, 10)
    on_best = replay(SWEEP, Ladder((1, 3, 9), 3.0, "best"), "maximize")
    assert on_best.best_cut_at is None and [t.number for t in on_best.cut] == [2, 3]


def test_a_trial_the_sweep_pruned_but_the_replay_keeps_is_unknown_past_its_last_epoch():
    lenient = replay(SWEEP, Ladder((3,), 3.0, "best"), "maximize")
    (unknown,) = lenient.unknown
    assert unknown.number == 3 and unknown.ran == 1 and unknown.saved_epochs == 0


@pytest.mark.slow
def test_replay_pruning_prints_what_other_rules_would_have_cut_on_a_finished_sweep(tmp_path, tiny_data, make_sweep,
                                                                                   monkeypatch, capsys):
    curves = {0.1: STEADY, 0.2: NOISY, 0.3: [0.5] * 10}
    monkeypatch.setattr(objective, "run_in_child", scripted_child(curves))
    ws = Workspace(tmp_path / "ws")
    sweep = make_sweep(ws, method="random", early_terminate={"type": "hyperband", "min_iter": 1, "eta": 3},
                       parameters={"epochs": {"value": 10}, "dropout": {"values": [0.1, 0.2, 0.3]}})
    study = optuna.load_study(study_name=sweep, storage=ws.db_url)
    for dropout in (0.1, 0.2, 0.3):
        study.enqueue_trial({"dropout": dropout})
    run_agent(sweep, tiny_data, workspace=ws, count=3, log=lambda m: None)  # judge best: 1 finishes, 2 is cut
    monkeypatch.setattr(console, "width", 200)  # one table row per line
    out = replay_output(capsys, sweep, "--judge", "last", "--workspace", str(ws.root))
    assert "rungs 1, 3, 9 (min_iter), judge last (the sweep ran with rungs 1, 3, 9, judge best)" in out
    assert "pruned at epoch 9: last 0.91 < 0.92 (top 1 of 2)" in out
    assert "would prune 2 of 3 trials (1 were pruned), saving 1 of 21 trained epochs" in out
    assert "the best trial, 1, would be pruned at epoch 9" in out
    lenient = replay_output(capsys, sweep, "--min-iter", "3", "--workspace", str(ws.root))
    assert "the best trial, 1, survives" in lenient and "their later epochs were never trained" in lenient
    with pytest.raises(SystemExit) as refused:
        main(["sweep", "replay-pruning", sweep, "--judge", "mean", "--workspace", str(ws.root)])
    assert refused.value.code == 2 and "judge must be one of best, last" in capsys.readouterr().err


def replay_output(capsys, *args):
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["sweep", "replay-pruning", *args])
    assert done.value.code == 0
    return " ".join(capsys.readouterr().out.split())
