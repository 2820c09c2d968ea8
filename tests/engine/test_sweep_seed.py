"""A seeded search proposes the same points in the same order, whichever agent process asks."""

import os
import subprocess
import sys

import optuna
import pytest
import yaml

from inat_cnn.engine.preview import propose
from inat_cnn.engine.space import make_sampler, sample_parameters, startup_trials
from inat_cnn.errors import UserError
from inat_cnn.spec import validate_sweep_dict

optuna.logging.set_verbosity(optuna.logging.ERROR)

PARAMS = {"model": {"value": "scratch"}, "image_size": {"value": 16}, "dropout": {"min": 0.0, "max": 0.5},
          "filters": {"values": [4, 8, 16]},
          "learning_rate": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1}}
GRID = {"model": {"value": "scratch"}, "filters": {"values": [4, 8, 16]}, "dropout": {"values": [0.1, 0.2, 0.3]}}


def spec(method, params=None, **keys):
    return validate_sweep_dict({"method": method, "metric": {"name": "val_accuracy", "goal": "maximize"},
                                "parameters": params or PARAMS, **keys}).spec


def score(point):
    """A deterministic stand-in for training, so TPE's model sees the same results every run."""
    return -abs(point["dropout"] - 0.2) - abs(point["filters"] - 8) / 100


def proposals(s, seed, n, new_process_at=()):
    """What one agent (a fresh sampler at each ``new_process_at`` trial: a new agent process) proposes."""
    study = optuna.create_study(direction="maximize")
    points = []

    def objective(trial):
        points.append(sample_parameters(trial, s))
        return score(points[-1])

    for i in range(n):
        if i == 0 or i in new_process_at:
            study.sampler = make_sampler(s, seed)
        study.optimize(objective, n_trials=1)  # as the agent asks: one trial per call
    return points


@pytest.mark.parametrize("method,params,n", [("random", PARAMS, 12), ("bayes", PARAMS, 14), ("grid", GRID, 9)])
def test_a_seed_fixes_the_points_and_their_order_across_agent_processes(method, params, n):
    s = spec(method, params, run_cap=16)
    first = proposals(s, 11, n)
    assert proposals(s, 11, n) == first  # the same seed again
    assert proposals(s, 11, n, new_process_at=(3, 7)) == first  # agents one after the other: no restart
    assert len({tuple(sorted(p.items())) for p in first}) == n  # no point proposed twice
    assert proposals(s, 12, n) != first


def test_bayes_start_up_trials_follow_run_cap():
    """TPE's first startup_trials(run_cap) points are its random ones; from there on it models the results."""
    assert [startup_trials(c) for c in (None, 8, 12, 30, 40, 60, 100, 500)] == [10, 3, 3, 3, 4, 6, 10, 10]
    bayes, random = spec("bayes", run_cap=12), spec("random", run_cap=12)
    tpe, rnd = proposals(bayes, 5, 5), proposals(random, 5, 5)
    assert tpe[:3] == rnd[:3] and tpe[3] != rnd[3]


def test_an_existing_sweep_refuses_another_seed_and_wandb_takes_none(tmp_path):
    from inat_cnn.engine.orchestrate import create_sweep_from_file, read_state
    from inat_cnn.workspace import Workspace

    file = tmp_path / "r.yaml"
    file.write_text("name: r\nmethod: random\nparameters:\n  model: {value: scratch}\n"
                    "  dropout: {min: 0.0, max: 0.5}\n")
    ws, said = Workspace(tmp_path / "ws"), []
    sweep_id = create_sweep_from_file(file, "local", None, ws, seed=7, log=said.append)
    assert read_state(sweep_id, None, ws).seed == 7
    assert create_sweep_from_file(file, "local", None, ws, log=said.append) == sweep_id  # continued, seed kept
    assert "continuing it" in said[-1]
    with pytest.raises(UserError, match="made with seed 7.*--new"):
        create_sweep_from_file(file, "local", None, ws, seed=8)
    other = create_sweep_from_file(file, "local", None, ws, seed=8, new=True)
    assert other != sweep_id and read_state(other, None, ws).seed == 8
    with pytest.raises(UserError, match="W&B's sweep controller takes no seed"):
        create_sweep_from_file(file, "wandb", None, ws, seed=8)


def _inat(*args):
    """The command with the engine's fake trials (no training) and no spare trial process (which imports TF)."""
    return subprocess.run([sys.executable, "-m", "inat_cnn", *map(str, args)], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "INAT_CNN_FAKE_TRIAL_S": "0.05", "INAT_CNN_WARM_TRIAL": "0"})


def _params(db):
    study = optuna.load_study(study_name=optuna.get_all_study_names(f"sqlite:///{db}")[0], storage=f"sqlite:///{db}")
    return [t.params for t in sorted(study.get_trials(), key=lambda t: t.number)]


@pytest.mark.slow
def test_two_runs_of_a_seeded_random_sweep_propose_the_same_configurations(tmp_path, tiny_data):
    """`sweep run --seed` on two fresh SQLite files (one agent; then two agents one after the other), with
    the engine's fake trials: the same points in the same order, the ones `sweep preview --seed` shows."""
    file = tmp_path / "r.yaml"
    file.write_text("name: r\nmethod: random\nrun_cap: 4\nmetric: {name: val_accuracy, goal: maximize}\n"
                    "parameters:\n  model: {value: scratch}\n  image_size: {value: 16}\n"
                    "  dropout: {min: 0.0, max: 0.5}\n  filters: {values: [4, 8, 16]}\n")
    one = _inat("sweep", "run", file, "--data", tiny_data, "--workspace", tmp_path / "a", "--seed", 5)
    assert one.returncode == 0, one.stderr
    assert "seed: 5" in one.stdout and "4 finished" in one.stdout
    created = _inat("sweep", "create", file, "--data", tiny_data, "--workspace", tmp_path / "b", "--seed", 5)
    sweep_id = created.stdout.split()[-1]
    for _ in range(2):  # each agent process starts its sampler afresh
        ran = _inat("agent", sweep_id, "--data", tiny_data, "--workspace", tmp_path / "b", "--count", 2)
        assert ran.returncode == 0, ran.stderr
    first, second = _params(tmp_path / "a" / "sweeps.db"), _params(tmp_path / "b" / "sweeps.db")
    assert len(first) == 4 and second == first
    assert len({(p["dropout"], p["filters"]) for p in first}) == 4
    validated = validate_sweep_dict(yaml.safe_load(file.read_text()))
    assert [{k: p[k] for k in ("dropout", "filters")} for p in propose(validated, 4, seed=5)] == first
