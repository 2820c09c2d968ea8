"""Reading sweeps into records: the engine's Optuna contract, and the W&B API at its boundary."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml
from report_sweeps import SIZE, T, make_sweep, tiny_model

from inat_cnn.errors import UserError
from inat_cnn.export.best import export_best
from inat_cnn.export.evaluate import score
from inat_cnn.report.dashboard import write_report
from inat_cnn.report.results import read_sweep_results


def test_local_sweep_records_follow_the_engine_contract(tmp_path):
    trials = [
        T({"filters": 4, "kernel_size": "[3, 5]"}, curve=[0.5, 0.7, 0.6], test_accuracy=0.66),
        T({"filters": 8, "kernel_size": "[3, 3]"}, curve=[0.4, 0.45], state="PRUNED", test_accuracy=None),
        T({"filters": 8, "kernel_size": "[5, 5]"}, curve=[0.2], state="FAIL", fail_reason="loss became NaN at epoch 1"),
        T({"filters": 4, "kernel_size": "[3, 3]"}, curve=[0.3], state="RUNNING", test_accuracy=None),
        T({"filters": 16, "kernel_size": "[3, 3]"}, curve=[0.8, 0.9], test_accuracy=0.85),
    ]
    url = make_sweep(tmp_path, trials, sweep_id="s1")
    study = optuna.load_study(study_name="s1", storage=url)
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, user_attrs={"discarded": True}))

    result = read_sweep_results("s1", storage=url)
    assert (result.metric, result.goal, result.backend) == ("val_accuracy", "maximize", "local")
    assert result.swept == ["filters", "kernel_size"]
    assert [t.state for t in result.trials] == ["finished", "pruned", "failed", "running", "finished"]
    assert [t.name for t in result.leaderboard()] == ["trial-0004", "trial-0000", "trial-0001", "trial-0003",
                                                      "trial-0002"]
    best, first = result.best(), result.trials[0]
    assert (best.name, best.value, best.test_accuracy) == ("trial-0004", 0.9, 0.85)
    assert first.curve == {1: 0.5, 2: 0.7, 3: 0.6} and first.epochs_run == 3 and first.duration_s == 12.5
    assert first.params["kernel_size"] == "[3, 5]" and first.config["kernel_size"] == [3, 5]
    assert first.metric_curve("val_accuracy") == {1: 0.5, 2: 0.7, 3: 0.6}  # from history.csv
    assert result.trials[1].value == 0.45  # pruned: its best reported epoch
    assert result.trials[2].fail_reason == "loss became NaN at epoch 1" and result.trials[2].value is None
    assert result.trials[3].value is None


def test_minimize_goal_ranks_low_values_first(tmp_path):
    trials = [T({"filters": 4}, curve=[0.9, 0.5]), T({"filters": 8}, curve=[0.7, 0.3])]
    url = make_sweep(tmp_path, trials, sweep_id="loss", metric="val_loss", goal="minimize")
    result = read_sweep_results("loss", storage=url)
    assert [(t.name, t.value) for t in result.ranked()] == [("trial-0001", 0.3), ("trial-0000", 0.5)]


def test_unknown_backend_is_a_user_error():
    with pytest.raises(UserError, match="--backend must be one of local, wandb"):
        read_sweep_results("x", backend="mlflow")


def test_score_counts_confusion_and_per_class_accuracy():
    probs = np.eye(3)[[0, 1, 1, 2, 0, 2]]
    evaluation = score(np.array([0, 1, 2, 2, 1, 0]), probs, ["a", "b", "c"])
    np.testing.assert_array_equal(evaluation.confusion, [[1, 0, 1], [1, 1, 0], [0, 1, 1]])
    assert evaluation.accuracy == pytest.approx(0.5)
    assert [c.accuracy for c in evaluation.per_class] == [0.5, 0.5, 0.5]


# --- W&B side: wandb.Api's public objects, faked at the boundary (no server in tests) ---------------

class FakeFile:
    def __init__(self, name: str, source: Path):
        self.name, self._source = name, source

    def download(self, root: str, replace: bool = False):
        target = Path(root) / self.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self._source, target)


class FakeArtifact:
    type = "model"

    def __init__(self, name: str, model: Path, aliases: list[str]):
        self.name, self._model, self.aliases = name, model, aliases

    def download(self, root: str) -> str:
        Path(root).mkdir(parents=True, exist_ok=True)
        shutil.copy2(self._model, Path(root) / "model.keras")
        return root


class FakeRun:
    def __init__(self, run_id, state, config, summary, history, artifacts=(), files=()):
        self.id, self.name, self.state = run_id, f"run-{run_id}", state
        self.config, self.summary, self._history = config, summary, history
        self._artifacts, self._files = list(artifacts), list(files)

    def scan_history(self, keys=None):
        return [row for row in self._history if all(k in row for k in keys or [])]

    def logged_artifacts(self):
        return self._artifacts

    def files(self):
        return self._files


class FakeApi:
    def __init__(self, sweeps):
        self._sweeps = sweeps

    def sweep(self, path):
        if path not in self._sweeps:
            raise ValueError(f"Could not find sweep {path}")
        return self._sweeps[path]


@pytest.mark.slow
def test_wandb_sweep_reads_runs_and_exports_the_best_model(tmp_path):
    from types import SimpleNamespace

    from inat_cnn.report.wandb_source import load_wandb_sweep

    model = tmp_path / "logged.keras"
    tiny_model(7).save(model)
    png = tmp_path / "f.png"
    png.write_bytes(b"\x89PNG fake")
    spec = {"method": "random", "metric": {"name": "val_accuracy", "goal": "maximize"},
            "parameters": {"model": {"value": "scratch"}, "filters": {"values": [4, 8]}}}
    config = {"model": "scratch", "filters": 8, "image_size": SIZE, "_wandb": {"cli_version": "0.31"},
              "api_key": "SECRET"}
    best = FakeRun("b1", "finished", config, {"val_accuracy": {"max": 0.8}, "test_accuracy": 0.7, "_runtime": 30,
                                              "class_names": ["a", "b", "c"]},
                   [{"val_accuracy": 0.6, "_step": 0}, {"val_accuracy": 0.8, "_step": 1}],
                   artifacts=[FakeArtifact("model-b1:v0", model, ["best", "latest"])],
                   files=[FakeFile("media/images/viz/filters_2_0a1b2c3d.png", png), FakeFile("output.log", png)])
    killed = FakeRun("k2", "killed", {"model": "scratch", "filters": 4}, {"val_accuracy": 0.5}, [{"val_accuracy": 0.5}])
    crashed = FakeRun("c3", "crashed", {"model": "scratch", "filters": 4}, {}, [])
    api = FakeApi({"me/proj/abc": SimpleNamespace(config=spec, runs=[best, killed, crashed])})

    result = load_wandb_sweep("me/proj/abc", api=api)
    assert [(t.state, t.value) for t in result.trials] == [("finished", 0.8), ("pruned", 0.5), ("failed", None)]
    assert result.swept == ["filters"] and result.trials[0].curve == {1: 0.6, 2: 0.8}
    assert result.trials[0].duration_s == 30 and result.trials[0].params == {"filters": 8}

    out = export_best(result, tmp_path / "export").out
    x = np.random.default_rng(0).uniform(0, 255, (4, SIZE, SIZE, 3)).astype("float32")
    import keras

    np.testing.assert_array_equal(keras.saving.load_model(out / "model.keras", safe_mode=True).predict(x, verbose=0),
                                  keras.saving.load_model(model, safe_mode=True).predict(x, verbose=0))
    exported_config = yaml.safe_load((out / "config.yaml").read_text())
    assert "_wandb" not in exported_config and "api_key" not in exported_config and exported_config["filters"] == 8
    assert sorted(p.name for p in (out / "viz").iterdir()) == ["filters.png"]

    page = write_report(result, tmp_path / "report.html").html.read_text()
    assert page.count('<img alt="filters"') == 1  # the best run's logged viz, downloaded and inlined

    with pytest.raises(UserError, match="cannot read W&B sweep"):
        load_wandb_sweep("me/proj/nope", api=api)
