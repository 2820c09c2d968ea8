"""`export best`: the export reloads and predicts like the checkpoint; the ensemble is the mean softmax."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from report_sweeps import SIZE, T, make_sweep, run_cli, tiny_model

from inat_cnn.errors import UserError
from inat_cnn.export.best import export_best
from inat_cnn.report.results import read_sweep_results


def _load(path: Path):
    import keras

    return keras.saving.load_model(path, safe_mode=True)


def _batch(n: int = 6) -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 255, (n, SIZE, SIZE, 3)).astype("float32")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Three finished trials with real models (best: seed 1), a failed one, and a secret planted in metrics."""
    root = tmp_path_factory.mktemp("export")
    trials = [
        T({"filters": 4}, curve=[0.5, 0.6], model_seed=2, test_accuracy=0.55),
        T({"filters": 8}, curve=[0.6, 0.7], model_seed=1, viz=True, test_accuracy=0.65,
          metrics={"wandb_api_key": "SECRET-KEY-123", "env": {"HOME": "/root"}}),
        T({"filters": 16}, curve=[0.4, 0.5], model_seed=3, test_accuracy=0.45),
        T({"filters": 16}, curve=[0.1], state="FAIL", test_accuracy=None, fail_reason="OOM"),
    ]
    url = make_sweep(root / "ws", trials, sweep_id="exp-1")
    return root, url, read_sweep_results("exp-1", storage=url)


@pytest.mark.slow
def test_export_reloads_and_predicts_identically(sweep, tmp_path):
    _, _, result = sweep
    best = result.best()
    assert best.name == "trial-0001"
    exported = export_best(result, tmp_path / "best")
    out = exported.out
    assert sorted(p.name for p in out.iterdir()) == [".inat-cnn-export", "MODEL_CARD.md", "config.yaml",
                                                     "history.csv", "metrics.json", "model.keras", "viz"]
    x = _batch()
    np.testing.assert_array_equal(_load(out / "model.keras").predict(x, verbose=0),
                                  _load(best.trial_dir / "model.keras").predict(x, verbose=0))
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("val_accuracy", "test_accuracy", "params", "flops", "layer_tuning_ratio", "parameter_tuning_ratio"):
        assert key in metrics
    assert (metrics["sweep_id"], metrics["trial_number"], metrics["test_accuracy"]) == ("exp-1", 1, 0.65)
    assert yaml.safe_load((out / "config.yaml").read_text())["filters"] == 8
    card = (out / "MODEL_CARD.md").read_text()
    for expected in ("fp-123", "split-456", "safe_mode=True", "Amphibia",
                     "| test accuracy (dataset's val/ folder) | 0.65 |"):
        assert expected in card
    assert sorted(p.name for p in (out / "viz").iterdir()) == ["confusion_matrix.png", "filters.png"]


@pytest.mark.slow
def test_export_carries_no_secrets(sweep, tmp_path):
    _, _, result = sweep
    out = export_best(result, tmp_path / "best").out
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert b"SECRET-KEY-123" not in data and b"wandb_api_key" not in data, path
    assert "env" not in json.loads((out / "metrics.json").read_text())


@pytest.mark.slow
def test_ensemble_equals_mean_of_member_softmax(sweep, tmp_path):
    _, _, result = sweep
    exported = export_best(result, tmp_path / "top3", top_k=3)
    members = json.loads((exported.out / "ensemble" / "members.json").read_text())["members"]
    assert [m["trial_name"] for m in members] == ["trial-0001", "trial-0000", "trial-0002"]
    ensemble = _load(exported.out / "ensemble" / "model.keras")
    x = _batch(8)
    expected = np.mean([_load(t.trial_dir / "model.keras").predict(x, verbose=0) for t in result.ranked()], axis=0)
    got = ensemble.predict(x, verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert np.allclose(got.sum(axis=1), 1.0, atol=1e-5)
    assert "ensemble test accuracy not measured: pass --data ROOT" in exported.warnings
    assert "## Top-k ensemble" in (exported.out / "MODEL_CARD.md").read_text()


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_force_replaces_only_an_earlier_export_and_a_failure_keeps_it(sweep, tmp_path, capsys):
    root, url, result = sweep
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("not an export")
    assert run_cli(["export", "best", "exp-1", "--storage", url, "--out", str(out)]) == 2
    assert run_cli(["export", "best", "exp-1", "--storage", url, "--out", str(out), "--force"]) == 2
    err = capsys.readouterr().err
    assert f"refusing to replace {out}" in err and ".inat-cnn-export" in err and "Traceback" not in err
    assert (out / "old.txt").read_text() == "not an export"
    (out / "old.txt").unlink()

    assert run_cli(["export", "best", "exp-1", "--storage", url, "--out", str(out)]) == 0
    marker = json.loads((out / ".inat-cnn-export").read_text())
    assert sorted(marker["files"]) == sorted(p for p in _tree(out) if p != ".inat-cnn-export")
    first = _tree(out)

    broken = root / "broken"
    trials = [T({"filters": 4}, curve=[0.7], model_seed=1), T({"filters": 8}, curve=[0.6], model_seed=2)]
    broken_url = make_sweep(broken, trials, sweep_id="broken")
    (broken / "runs" / "broken" / "trial-0001" / "model.keras").write_bytes(b"not a keras zip")
    with pytest.raises(UserError):
        export_best(read_sweep_results("broken", storage=broken_url), out, top_k=2, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "no partial export may be left behind"
    assert _tree(out) == first, "a failed export must leave the earlier one as it was"

    (out / "viz" / "my_notes.txt").write_text("mine")
    assert run_cli(["export", "best", "exp-1", "--storage", url, "--out", str(out), "--force"]) == 2
    assert "viz/my_notes.txt" in capsys.readouterr().err and (out / "viz" / "my_notes.txt").exists()
    (out / "viz" / "my_notes.txt").unlink()

    assert run_cli(["export", "best", "exp-1", "--storage", url, "--out", str(out), "--force", "--top-k", "2"]) == 0
    assert (out / "ensemble" / "model.keras").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "the replaced export is removed afterwards"


def test_force_never_replaces_the_workspace_or_what_holds_it(tmp_path, monkeypatch, capsys):
    """The reported data loss: `export best ... --out <workspace> --force` wiped sweeps.db, runs/, cache/, wandb/."""
    ws = tmp_path / "lab" / "ws"
    url = make_sweep(ws, [T({"filters": 4}, curve=[0.5, 0.6], model_seed=1)], sweep_id="ws-1")
    for extra in ("cache/decoded/x.u8", "wandb/offline-run-1/run-1.wandb"):
        (ws / extra).parent.mkdir(parents=True)
        (ws / extra).write_bytes(b"keep me")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    before = _tree(tmp_path)
    cases = [(ws, "it is the workspace"), (tmp_path / "lab", "it contains the workspace"),
             (tmp_path, "it contains the current folder"),
             (here, "it is the current folder"), (ws / "runs", "no valid .inat-cnn-export marker")]
    for out, reason in cases:
        code = run_cli(["export", "best", "ws-1", "--storage", url, "--workspace", str(ws), "--out", str(out),
                        "--force"])
        err = capsys.readouterr().err
        assert code == 2 and f"refusing to replace {out}" in err and reason in err, (out, err)
        assert _tree(tmp_path) == before, f"--out {out} --force changed files"
    # an export's marker copied into the workspace or a trial folder does not make them replaceable
    assert run_cli(["export", "best", "ws-1", "--storage", url, "--out", str(tmp_path / "e")]) == 0
    marker = (tmp_path / "e" / ".inat-cnn-export").read_bytes()
    trial = ws / "runs" / "ws-1" / "trial-0000"
    for folder in (ws, trial):
        (folder / ".inat-cnn-export").write_bytes(marker)
    assert run_cli(["export", "best", "ws-1", "--storage", url, "--workspace", str(ws), "--out", str(ws),
                    "--force"]) == 2
    assert "it is the workspace" in capsys.readouterr().err
    with pytest.raises(UserError, match="it is a trial folder of this sweep"):
        export_best(read_sweep_results("ws-1", storage=url), trial, force=True)
    assert (ws / "sweeps.db").is_file() and (ws / "cache" / "decoded" / "x.u8").read_bytes() == b"keep me"
    assert (trial / "model.keras").is_file() and (trial / "metrics.json").is_file()


def test_export_without_finished_trials_is_a_user_error(tmp_path):
    url = make_sweep(tmp_path / "ws", [T({"filters": 4}, curve=[0.2], state="RUNNING")], sweep_id="busy")
    with pytest.raises(UserError, match="no finished trial"):
        export_best(read_sweep_results("busy", storage=url), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_ensemble_and_evaluate_on_real_test_split(sweep, tmp_path, capsys):
    """--data measures ensemble and best-model test accuracy; `evaluate` agrees on both."""
    from inat_cnn.data import load_splits, synthesize

    _, url, result = sweep
    data = synthesize(tmp_path / "data", classes=3, per_class=2, test_per_class=5, min_side=16, max_side=24)
    out = tmp_path / "exp"
    assert run_cli(["export", "best", "exp-1", "--storage", url, "--out", str(out), "--top-k", "2",
                    "--data", str(data)]) == 0
    ensemble = json.loads((out / "metrics.json").read_text())["ensemble"]

    splits = load_splits(data, SIZE)
    x = splits.x_test.astype("float32")
    members = [_load(t.trial_dir / "model.keras").predict(x, verbose=0) for t in result.ranked()[:2]]
    accuracy = lambda probs: float(np.mean(np.argmax(probs, axis=1) == splits.y_test))  # noqa: E731
    assert ensemble["test_accuracy"] == pytest.approx(accuracy(np.mean(members, axis=0)))
    assert ensemble["best_single_test_accuracy"] == pytest.approx(accuracy(members[0]))

    report = tmp_path / "eval.json"
    assert run_cli(["evaluate", str(out / "ensemble" / "model.keras"), "--data", str(data), "--json", str(report),
                    "--confusion-png", str(tmp_path / "cm.png")]) == 0
    evaluation = json.loads(report.read_text())
    assert evaluation["test_accuracy"] == pytest.approx(ensemble["test_accuracy"])
    assert np.array(evaluation["confusion_matrix"]).sum() == 15 and (tmp_path / "cm.png").is_file()
    assert run_cli(["evaluate", str(out), "--data", str(data)]) == 0
    assert f"test accuracy {ensemble['best_single_test_accuracy']:.4f}" in capsys.readouterr().out


@pytest.mark.slow
def test_evaluate_rejects_a_model_for_other_classes(sweep, tmp_path, capsys):
    from inat_cnn.data import synthesize

    _, _, result = sweep
    data = synthesize(tmp_path / "data", classes=4, per_class=2, test_per_class=1, min_side=16, max_side=16)
    assert run_cli(["evaluate", str(result.best().trial_dir), "--data", str(data)]) == 2
    assert "predicts 3 classes" in capsys.readouterr().err


def test_tiny_model_is_deterministic():
    """The fixtures rely on distinct seeds giving distinct members (else the ensemble test proves nothing)."""
    x = _batch(2)
    a, b = tiny_model(1).predict(x, verbose=0), tiny_model(2).predict(x, verbose=0)
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, tiny_model(1).predict(x, verbose=0))


@pytest.mark.slow
def test_report_and_viz_out_replace_only_their_own_earlier_files(sweep, tmp_path, capsys):
    """`report --out` and `viz --out` used to write over whatever file they were given (a database, a model)."""
    _, url, result = sweep
    precious = tmp_path / "notes.db"
    precious.write_bytes(b"SQLite format 3\x00 not a report")
    assert run_cli(["report", "exp-1", "--storage", url, "--out", str(precious)]) == 2
    assert "refusing to replace" in capsys.readouterr().err and precious.read_bytes().startswith(b"SQLite")
    assert run_cli(["report", "exp-1", "--storage", url, "--out", str(tmp_path)]) == 2
    page = tmp_path / "r.html"
    assert run_cli(["report", "exp-1", "--storage", url, "--out", str(page)]) == 0
    assert run_cli(["report", "exp-1", "--storage", url, "--out", str(page)]) == 0  # an earlier report: replaced

    model = result.best().trial_dir / "model.keras"
    target = tmp_path / "copy.keras"
    target.write_bytes(model.read_bytes())
    assert run_cli(["viz", "filters", str(model), "--out", str(target)]) == 2
    assert "not a PNG" in capsys.readouterr().err and target.read_bytes() == model.read_bytes()
    png = tmp_path / "filters.png"
    assert run_cli(["viz", "filters", str(model), "--out", str(png)]) == 0
    assert run_cli(["viz", "filters", str(model), "--out", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG" and not list(tmp_path.glob(".*.partial"))
