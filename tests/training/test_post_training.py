"""post_training: top_k | export trials skip the test and the figures, and the report path draws them later."""

import json

import optuna
import pytest
from trial_helpers import TINY_SCRATCH
from wandb_files import read_wandb_history

from inat_cnn.report.results import complete_pending, read_sweep_results
from inat_cnn.training import run_trial

FIGURES = 5


def _viz_keys(wandb_dir, run_id: str) -> set[str]:
    """The viz/ keys logged into run ``run_id``, over every offline file of that run (a later one appends)."""
    run_dirs = sorted(wandb_dir.rglob(f"offline-run-*-{run_id}"))
    assert run_dirs, f"no offline wandb run {run_id} under {wandb_dir}"
    keys = set()
    for run_dir in run_dirs:
        keys |= {k.split(".")[0] for row in read_wandb_history(run_dir) for k in row if k.startswith("viz/")}
    return keys


@pytest.mark.slow
def test_a_deferred_trial_gets_its_test_and_figures_when_the_report_reads_it(tiny_root, tiny_splits, tmp_path):
    ws = tmp_path / "ws"
    cfg = {**TINY_SCRATCH, "epochs": 2, "viz": True, "post_training": "export"}
    trial_dir = tmp_path / "trial-0000"
    outcome = run_trial(cfg, None, trial_dir, workspace=ws, splits=tiny_splits, top_k_bar=None)
    assert outcome.state == "finished" and outcome.pending == ("test", "figures")
    assert outcome.test_accuracy is None and not (trial_dir / "viz").exists()
    assert _viz_keys(ws / "wandb", outcome.wandb_run_id) == set()

    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    study = optuna.create_study(study_name="deferred", storage=url, direction="maximize")
    study.set_user_attr("data_root", str(tiny_root))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.COMPLETE, value=outcome.best_value,
                                              user_attrs={"trial_dir": str(trial_dir), "wandb_run_id":
                                                          outcome.wandb_run_id}))
    before = read_sweep_results("deferred", storage=url)
    assert before.best().viz_files() == [] and before.best().outcome.pending == ("test", "figures")

    after = complete_pending(before, storage=url, workspace=ws, log=lambda line: None)
    best = after.best()
    assert len(best.viz_files()) == FIGURES and best.outcome.pending == () and 0 <= best.test_accuracy <= 1
    written = json.loads((trial_dir / "metrics.json").read_text())
    assert written["test_accuracy"] == best.test_accuracy and "pending" not in written
    assert len(_viz_keys(ws / "wandb", outcome.wandb_run_id)) == FIGURES  # in the trial's own wandb run
    assert complete_pending(after, storage=url, workspace=ws) is after  # nothing left: nothing done


@pytest.mark.slow
def test_a_top_k_trial_draws_now_only_when_it_enters_the_top_k(tiny_splits, tmp_path):
    cfg = {**TINY_SCRATCH, "viz": True, "post_training": "top_k"}
    behind = run_trial(cfg, None, tmp_path / "behind", workspace=tmp_path / "ws", splits=tiny_splits, top_k_bar=2.0)
    assert behind.pending == ("test", "figures") and not (tmp_path / "behind" / "viz").exists()
    ahead = run_trial(cfg, None, tmp_path / "ahead", workspace=tmp_path / "ws", splits=tiny_splits, top_k_bar=-1.0)
    assert ahead.pending == () and ahead.test_accuracy is not None
    assert len(list((tmp_path / "ahead" / "viz").glob("*.png"))) == FIGURES
    plain = run_trial(cfg, None, tmp_path / "plain", workspace=tmp_path / "ws", splits=tiny_splits)
    assert plain.pending == () and plain.test_accuracy is not None  # `inat-cnn train`: nobody would finish it later
