"""The local engine's early termination: W&B's rung placement, the value judged, every decision on record."""

import json

import optuna
import pytest
from optuna.trial import TrialState
from scripted_trials import scripted_child

from inat_cnn.engine import ledger, objective, pruning
from inat_cnn.engine.agent import run_agent
from inat_cnn.engine.storage import load_study
from inat_cnn.errors import UserError
from inat_cnn.report.dashboard import write_report
from inat_cnn.report.results import load_local_sweep
from inat_cnn.spec import validate_sweep_dict
from inat_cnn.workspace import Workspace


def spec(early_terminate=None):
    data = {"method": "random", "parameters": {"model": {"value": "scratch"}},
            "metric": {"name": "val_accuracy", "goal": "maximize"}}
    if early_terminate:
        data["early_terminate"] = {"type": "hyperband", **early_terminate}
    return validate_sweep_dict(data).spec


def test_rungs_follow_w_and_b_placement_or_count_down_from_the_last_epoch():
    assert pruning.place_rungs(1, 3, 10) == (1, 3, 9)  # W&B's: min_iter·eta^k below the last epoch
    assert pruning.place_rungs(1, 3, 10, "max_iter") == (1, 3)  # 10/3, 10/9: no rung one epoch before the end
    assert pruning.place_rungs(1, 3, 15, "max_iter") == (2, 5)
    assert pruning.place_rungs(2, 3, 18) == (2, 6)
    assert pruning.ladder(spec({"min_iter": 2, "eta": 3}), max_epochs=18).rungs == (2, 6)
    by_s = pruning.ladder(spec({"max_iter": 27, "s": 2, "eta": 3}), max_epochs=30)
    assert by_s.rungs == (3, 9)  # W&B's bands for max_iter 27, s 2: 27/9, 27/3
    assert isinstance(pruning.make_pruner(spec(), 5), optuna.pruners.NopPruner)
    assert isinstance(pruning.make_pruner(spec({"min_iter": 1}), 5), pruning.RungPruner)
    with pytest.raises(UserError, match="judge must be one of best, last"):
        pruning.PruningOptions(judge="mean")


# The case: a trial that scored 0.986 at epochs 3-8 dips to 0.91 at the epoch-9 rung, where the
# others stand at 0.92.
STEADY = {e: v for e, v in enumerate([0.80, 0.85, 0.90, 0.90, 0.90, 0.90, 0.90, 0.90, 0.92, 0.92], 1)}
NOISY = {e: v for e, v in enumerate([0.85, 0.90, 0.986, 0.986, 0.986, 0.986, 0.986, 0.986, 0.91, 0.99], 1)}


def test_judging_the_best_so_far_keeps_a_noisy_good_trial_that_this_epoch_alone_would_prune():
    last = pruning.Ladder((1, 3, 9), 3.0, "last")
    best = pruning.Ladder((1, 3, 9), 3.0, "best")
    on_last = pruning.decide(NOISY, [STEADY], 9, last, "maximize")
    assert on_last.pruned and (on_last.value, on_last.threshold, on_last.reached, on_last.keep) == (0.91, 0.92, 2, 1)
    on_best = pruning.decide(NOISY, [STEADY], 9, best, "maximize")
    assert not on_best.pruned and on_best.value == 0.986
    assert pruning.decide(NOISY, [STEADY], 4, best, "maximize") is None  # not a rung
    low = {1: 0.5, 2: 0.2}  # minimize: the lower the better
    assert pruning.decide(low, [{1: 0.4, 2: 0.3}], 1, pruning.Ladder((1,), 3.0, "best"), "minimize").pruned
    assert not pruning.decide(low, [{1: 0.4, 2: 0.3}], 2, pruning.Ladder((2,), 3.0, "best"), "minimize").pruned


def test_the_pruner_judges_against_the_trials_of_a_real_study_and_keeps_its_decision(tmp_path):
    pruner = pruning.RungPruner(pruning.Ladder((1, 3), 2.0, "best"), "maximize")
    study = optuna.create_study(storage=f"sqlite:///{tmp_path}/s.db", direction="maximize", pruner=pruner)
    first = study.ask()
    for epoch, value in ((1, 0.6), (2, 0.7), (3, 0.8)):
        first.report(value, epoch)
        assert not first.should_prune()
    study.tell(first, 0.8)
    second = study.ask()
    second.report(0.3, 1)
    assert second.should_prune()
    decision = pruning.decision_at(pruner, second.number, 1)
    assert decision == pruning.Decision(rung=1, judge="best", value=0.3, threshold=0.6, reached=2, keep=1, pruned=True)
    assert pruning.Decision.from_attr(json.loads(json.dumps(decision.as_attr()))) == decision
    assert decision.describe() == "pruned at epoch 1: best 0.3 < 0.6 (top 1 of 2)"


CURVES = {0.1: list(STEADY.values()), 0.2: list(NOISY.values()), 0.3: [0.5] * 10}


@pytest.mark.slow
@pytest.mark.parametrize("judge", ["best", "last"])
def test_every_rung_decision_is_recorded_on_the_trial_and_in_its_folder(tmp_path, tiny_data, make_sweep, monkeypatch,
                                                                       judge):
    monkeypatch.setattr(objective, "run_in_child", scripted_child(CURVES))
    ws = Workspace(tmp_path / "ws")
    sweep = make_sweep(ws, method="random", early_terminate={"type": "hyperband", "min_iter": 1, "eta": 3},
                       parameters={"epochs": {"value": 10}, "dropout": {"values": [0.1, 0.2, 0.3]}})
    study = optuna.load_study(study_name=sweep, storage=ws.db_url)
    if judge == "last":
        pruning.store_options(study, pruning.PruningOptions(judge="last"))
    for dropout in (0.1, 0.2, 0.3):
        study.enqueue_trial({"dropout": dropout})
    run_agent(sweep, tiny_data, workspace=ws, count=3, log=lambda m: None)
    study, _ = load_study(sweep, ws.db_url)
    steady, noisy, low = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    assert steady.state == TrialState.COMPLETE
    assert [(d.rung, d.pruned) for d in pruning.decisions_of(steady.user_attrs)] == [(1, False), (3, False),
                                                                                     (9, False)]
    (cut,) = pruning.decisions_of(low.user_attrs)
    assert low.state == TrialState.PRUNED and (cut.rung, cut.value, cut.threshold, cut.reached) == (1, 0.5, 0.85, 3)
    assert pruning.pruned_note(low.user_attrs) == f"pruned at epoch 1: {judge} 0.5 < 0.85 (top 1 of 3)"
    assert next(r.note for r in ledger.rows([steady, noisy, low], "maximize") if r.number == low.number) == \
        pruning.pruned_note(low.user_attrs)  # the note `sweep status` shows
    folder = json.loads((ws.runs / sweep / f"trial-{low.number:04d}" / "outcome.json").read_text())
    assert folder["user_attrs"]["pruning"] == low.user_attrs["pruning"]  # what a reconcile would restore
    result = load_local_sweep(sweep, workspace=ws.root)
    assert next(t.note for t in result.trials if t.number == low.number) == pruning.pruned_note(low.user_attrs)
    if judge == "best":  # the report's leaderboard shows it
        html = write_report(result, tmp_path / "report.html").html.read_text()
        assert "pruned at epoch 1: best 0.5 &lt; 0.85 (top 1 of 3)" in html
    rung9 = pruning.decisions_of(noisy.user_attrs)[-1]
    if judge == "best":  # kept on its best epoch so far (0.986), it finishes as the sweep's best trial
        assert noisy.state == TrialState.COMPLETE and noisy.value == 0.99 and not rung9.pruned
    else:  # judged on epoch 9 alone (0.91 < 0.92), it is cut with one epoch to go
        assert noisy.state == TrialState.PRUNED and (rung9.rung, rung9.value, rung9.threshold) == (9, 0.91, 0.92)
