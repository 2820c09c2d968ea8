"""Ensembles of a real local sweep on scikit-learn's digits: members of two input sizes in one plain-Keras model,
aggregations fitted on validation only, seed trials run by the sweep's own agents outside its budget.

One grid sweep (image_size 16 | 24 × filters 4 | 8, run_cap 3) trains three real trials; the export of the
top 3 is instrumented so that every read of the dataset's test split and every fit is logged in order.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import yaml
from digits_data import write_digits
from plain_keras import ISOLATE

from inat_cnn.engine.storage import create_sweep, load_study, open_storage
from inat_cnn.workspace import Workspace

PARAMS = {"model": {"value": "scratch"}, "image_size": {"values": [16, 24]}, "filters": {"values": [4, 8]},
          "conv_blocks": {"value": 2}, "dense_units": {"value": 16}, "epochs": {"value": 2},
          "batch_size": {"value": 16}, "learning_rate": {"value": 0.01}, "viz": {"value": False}}
TEST_PARTS = ("x_test", "y_test", "test_files")


class LoggedSplits:
    """A DatasetSplits whose test-split reads are logged (the instrumented data loader)."""

    def __init__(self, splits, events: list):
        self._splits, self._events = splits, events

    def __getattr__(self, name):
        if name in TEST_PARTS:
            self._events.append(("read test", name))
        return getattr(self._splits, name)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    from inat_cnn.data import load_splits
    from inat_cnn.engine.agent import run_agent
    from inat_cnn.spec import validate_sweep_dict

    root = tmp_path_factory.mktemp("sweep")
    data = write_digits(root / "digits", side=24, per_class=20, test_per_class=6)
    ws = Workspace(root / "ws")
    for size in (16, 24):  # decoded once here, as `inat-cnn data prepare` does, not inside the trial processes
        load_splits(data, size, cache_dir=ws.ensure().cache)
    spec = {"name": "ens", "method": "grid", "run_cap": 3, "metric": {"name": "val_accuracy", "goal": "maximize"},
            "parameters": PARAMS}
    sweep_id = create_sweep(validate_sweep_dict(yaml.safe_load(yaml.safe_dump(spec))), open_storage(ws.ensure().db_url))
    report = run_agent(sweep_id, data, workspace=ws, log=lambda m: None)
    assert len(report.finished) == 3 and "run_cap" in report.stop_reason
    return sweep_id, data, ws


def _result(sweep):
    from inat_cnn.report.results import read_sweep_results

    sweep_id, _, ws = sweep
    return read_sweep_results(sweep_id, storage=ws.db_url)


@pytest.fixture(scope="module")
def top3(sweep, tmp_path_factory):
    """export best --top-k 3 --data, with the test split's reads and every fit logged in order."""
    import inat_cnn.data
    from inat_cnn.ensembles import aggregate
    from inat_cnn.export.best import export_best

    sweep_id, data, ws = sweep
    events: list = []
    real_load, real_greedy, real_stack = inat_cnn.data.load_splits, aggregate.greedy_weights, aggregate.fit_stacker

    def fit_logged(real, name):
        def fit(probs, labels, *args, **kwargs):
            events.append(("fit", name, len(labels)))
            return real(probs, labels, *args, **kwargs)
        return fit

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(inat_cnn.data, "load_splits", lambda *a, **k: LoggedSplits(real_load(*a, **k), events))
        mp.setattr(aggregate, "greedy_weights", fit_logged(real_greedy, "greedy"))
        mp.setattr(aggregate, "fit_stacker", fit_logged(real_stack, "stacked"))
        exported = export_best(_result(sweep), tmp_path_factory.mktemp("export") / "best", top_k=3,
                               data_root=data, cache_dir=ws.cache, storage_url=ws.db_url)
    return exported, events


@pytest.mark.slow
def test_fits_read_validation_only_and_happen_before_any_test_read(top3, sweep):
    from inat_cnn.data import load_splits

    exported, events = top3
    fits = [i for i, e in enumerate(events) if e[0] == "fit"]
    reads = [i for i, e in enumerate(events) if e[0] == "read test"]
    assert [events[i][1] for i in fits] == ["greedy", "stacked"] and reads, events
    assert max(fits) < min(reads), f"the test split was read before fitting was done: {events}"
    val_size = len(load_splits(sweep[1], 24, cache_dir=sweep[2].cache).y_val)
    assert all(events[i][2] == val_size for i in fits)


@pytest.mark.slow
def test_cross_size_ensemble_loads_in_plain_keras_and_is_the_mean_of_its_members(top3, tmp_path):
    exported, _ = top3
    folder = exported.out / "ensemble"
    judged = json.loads((folder / "members.json").read_text())
    sizes = [m["image_size"] for m in judged["members"]]
    assert len(sizes) == 3 and set(sizes) == {16, 24} and judged["input_size"] == 24
    weights = judged["aggregations"]["greedy"]["weights"]
    members = [str(exported.best.trial_dir.parent / m["trial_name"] / "model.keras") for m in judged["members"]]
    rng = np.random.default_rng(0)
    np.save(tmp_path / "images.npy", rng.uniform(0, 255, (6, 24, 24, 3)).astype("float32"))
    script = ISOLATE + textwrap.dedent(f'''
        import json
        import keras
        import numpy as np
        x = np.load({str(tmp_path / "images.npy")!r})
        load = lambda p: keras.saving.load_model(p, safe_mode=True)
        probs = []
        for path in {json.dumps(members)}:
            member = load(path)
            side = member.input_shape[1]
            inputs = x if side == 24 else keras.layers.Resizing(side, side, antialias=True)(x)
            probs.append(np.asarray(member.predict(inputs, verbose=0)))
        probs = np.stack(probs)
        mean = load({str(folder / "model.keras")!r}).predict(x, verbose=0)
        greedy = load({str(folder / "greedy.keras")!r}).predict(x, verbose=0)
        np.testing.assert_allclose(mean, probs.mean(axis=0), atol=1e-5)
        np.testing.assert_allclose(greedy, np.tensordot(np.array({weights}), probs, axes=1), atol=1e-5)
        stacked = load({str(folder / "stacked.keras")!r}).predict(x, verbose=0)
        np.testing.assert_allclose(stacked.sum(axis=1), 1.0, atol=1e-5)
        print(json.dumps({{"inat": sorted(m for m in sys.modules if m.startswith("inat_cnn"))}}))
        ''')
    child = subprocess.run([sys.executable, "-I", "-c", script], cwd=tmp_path, capture_output=True, text=True,
                           timeout=300)
    assert child.returncode == 0, child.stderr[-3000:]
    assert json.loads(child.stdout.strip().splitlines()[-1]) == {"inat": []}


@pytest.mark.slow
def test_stacked_model_is_sklearns_logistic_regression_fitted_on_validation(top3, sweep):
    from sklearn.linear_model import LogisticRegression

    from inat_cnn.data import load_splits
    from inat_cnn.ensembles import aggregate, graph
    from inat_cnn.ensembles.build import member_probs
    from inat_cnn.models import load_model

    exported, _ = top3
    folder = exported.out / "ensemble"
    judged = json.loads((folder / "members.json").read_text())
    members = [load_model(exported.best.trial_dir.parent / m["trial_name"] / "model.keras", compile=False)
               for m in judged["members"]]
    splits = load_splits(sweep[1], 24, cache_dir=sweep[2].cache)
    probe = graph.members_model(members)
    reference = LogisticRegression(max_iter=2000).fit(aggregate.stack_features(member_probs(probe, splits.x_val)),
                                                      splits.y_val)
    expected = reference.predict_proba(aggregate.stack_features(member_probs(probe, splits.x_test)))
    got = load_model(folder / "stacked.keras", compile=False).predict(splits.x_test.astype("float32"), verbose=0)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    test_acc = float(np.mean(expected.argmax(1) == splits.y_test))
    assert judged["aggregations"]["stacked"]["test_accuracy"] == pytest.approx(test_acc)
    card = (exported.out / "MODEL_CARD.md").read_text()
    assert "same-cost baseline" in card and "FLOPs per image" in card and "ensemble, stacked" in card
    assert (folder / "accuracy_vs_members.png").is_file()


@pytest.mark.slow
def test_seed_trials_run_on_the_agents_outside_the_budget_and_export_their_ensemble(sweep, top3, tmp_path):
    from inat_cnn.engine import ledger, seeds
    from inat_cnn.engine.agent import run_agent
    from inat_cnn.export.best import export_best

    sweep_id, data, ws = sweep
    first = export_best(_result(sweep), tmp_path / "queued", seeds=2, storage_url=ws.db_url)
    assert any("0 of the 2 seed trials" in w and "run this export again" in w for w in first.warnings)
    again = export_best(_result(sweep), tmp_path / "queued-again", seeds=2, storage_url=ws.db_url)
    study, _ = load_study(sweep_id, ws.db_url)
    queued = [t for t in study.get_trials() if seeds.seed_of(t) is not None]
    assert len(queued) == 2 and again.best.number == first.best.number, "a second export queues nothing more"

    report = run_agent(sweep_id, data, workspace=ws, log=lambda m: None)  # run_cap 3 is used up already
    assert sorted(report.finished) == sorted(t.number for t in queued) and "run_cap" in report.stop_reason
    trials = study.get_trials()
    assert len(ledger.counted(trials)) == 3 and not ledger.grid_exhausted(trials, 4)  # no grid point taken
    best = next(t for t in trials if t.number == first.best.number)
    done = [t for t in trials if seeds.seed_of(t) == best.number]
    assert sorted(t.user_attrs["config"]["seed"] for t in done) == [1, 2]
    assert all({k: v for k, v in t.user_attrs["config"].items() if k != "seed"} ==
               {k: v for k, v in best.user_attrs["config"].items() if k != "seed"} for t in done)

    final = export_best(_result(sweep), tmp_path / "seeds", seeds=2, top_k=2, data_root=data, cache_dir=ws.cache,
                        storage_url=ws.db_url)
    assert final.best.number == best.number, "seed trials are never ranked as the best"
    judged = json.loads((final.out / "seeds" / "members.json").read_text())
    assert [m["seed"] for m in judged["members"]] == [1, 2] and judged["aggregations"]["mean"]["test_accuracy"] >= 0
    topk = json.loads((final.out / "ensemble" / "members.json").read_text())
    assert topk["baseline"]["count"] == 2 and topk["baseline"]["members"][0] == best_name(best)
    assert "seed_ensemble" in json.loads((final.out / "metrics.json").read_text())


def best_name(trial) -> str:
    return f"trial-{trial.number:04d}"


@pytest.mark.slow
def test_html_report_shows_each_member_the_aggregations_and_the_cost(top3, sweep, tmp_path):
    from inat_cnn.report.dashboard import write_report
    from inat_cnn.report.ensemble_section import JUDGEMENT_FILE

    exported, _ = top3  # the latest export with --data (another test's may come later) left its judgement
    latest = json.loads((exported.best.trial_dir.parent / JUDGEMENT_FILE).read_text())
    page = write_report(_result(sweep), tmp_path / "report.html").html.read_text()
    section = page.split('id="ensembles"', 1)[1].split("</section>", 1)[0]
    assert latest["ensembles"]
    for judged in latest["ensembles"]:
        for member in judged["members"]:
            assert f"member {member['name']}" in section
        for name in judged["aggregations"]:
            assert f"ensemble, {name}" in section
        assert f"{judged['cost']['ensemble_flops']:,}" in section
    assert "best single model" in section and "data:image/png;base64," in section
