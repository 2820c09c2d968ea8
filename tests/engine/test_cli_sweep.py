"""`sweep create|status` and `agent` at the command line: ids, tables and exit codes."""

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

SWEEPS = Path(__file__).parents[2] / "sweeps"


def inat(*args, env=None):
    return subprocess.run([sys.executable, "-m", "inat_cnn", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def test_create_then_status_and_clear_errors(tmp_path, run_cli):
    ws = tmp_path / "ws"
    code, out, err = run_cli("sweep", "create", SWEEPS / "smoke.yaml", "--workspace", ws)
    assert code == 0, err
    sweep_id = out.strip().splitlines()[-1]
    assert sweep_id.startswith("smoke-")
    code, out, _ = run_cli("sweep", "status", sweep_id, "--workspace", ws)
    assert code == 0 and f"sweep {sweep_id}" in out
    code, _, err = run_cli("sweep", "status", "nope-000000", "--workspace", ws)
    assert code == 2 and sweep_id in err and "Traceback" not in err
    code, _, err = run_cli("agent", sweep_id, "--data", tmp_path / "missing", "--workspace", ws)
    assert code == 2 and "no such dataset folder" in err


def test_local_engine_refuses_what_optuna_cannot_honour(tmp_path, run_cli):
    spec = tmp_path / "p.yaml"
    spec.write_text("method: random\nparameters:\n  model: {value: scratch}\n"
                    "  dropout: {values: [0.1, 0.2], probabilities: [0.2, 0.8]}\n")
    code, _, err = run_cli("sweep", "create", spec, "--workspace", tmp_path / "ws")
    assert code == 2 and "parameters.dropout.probabilities" in err


def test_gpu_flag_sets_cuda_visible_devices_before_the_framework_loads(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from inat_cnn.cli import app

    for name in ("CUDA_VISIBLE_DEVICES", "TF_FORCE_GPU_ALLOW_GROWTH", "XLA_PYTHON_CLIENT_PREALLOCATE"):
        # setenv first: monkeypatch restores only what it recorded, and a delenv of an absent name records
        # nothing, so the values the command sets would leak into the next tests of this process
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    result = CliRunner().invoke(app, ["agent", "x-1", "--data", str(tmp_path / "none"), "--gpu", "3"])
    assert result.exit_code != 0  # the data folder does not exist...
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "3"  # ...but the device was pinned first
    assert os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"


def test_sweep_run_deals_gpus_round_robin(tmp_path):
    from inat_cnn.engine.launcher import agent_commands
    from inat_cnn.workspace import Workspace

    cmds = agent_commands("s-1", tmp_path, Workspace(tmp_path), agents=3, extra=["--count", "2"],
                          gpus=["0", "1"])
    assert [c[c.index("--gpu") + 1] for c in cmds] == ["0", "1", "0"]
    assert all(c[c.index("--count") + 1] == "2" and c[3] == "agent" and c[4] == "s-1" for c in cmds)


def _fake(seconds="0.1"):
    return {"INAT_CNN_FAKE_TRIAL_S": seconds}


def _one_point_sweep(tmp_path, values="[0.1]"):
    spec = tmp_path / "g.yaml"
    spec.write_text("name: g\nmethod: grid\nparameters:\n  model: {value: scratch}\n  image_size: {value: 16}\n"
                    f"  dropout: {{values: {values}}}\n")
    return spec


@pytest.mark.slow
def test_the_sweeps_dataset_is_stated_shown_and_enforced(tmp_path, tiny_data):
    import shutil

    ws = tmp_path / "ws"
    spec = _one_point_sweep(tmp_path, "[0.1, 0.2]")
    sweep_id = inat("sweep", "create", spec, "--data", tiny_data, "--workspace", ws).stdout.strip().splitlines()[-1]
    status = inat("sweep", "status", sweep_id, "--workspace", ws)
    assert f"dataset: {tiny_data.resolve()}" in status.stdout.replace("\n", "")
    other = shutil.copytree(tiny_data, tmp_path / "other")
    next((other / "train").iterdir()).joinpath("extra.jpg").write_bytes(
        next((other / "train").rglob("*.jpg")).read_bytes())
    refused = inat("agent", sweep_id, "--data", other, "--workspace", ws, env=_fake())
    assert refused.returncode == 2 and "is not the dataset of sweep" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr
    same = shutil.copytree(tiny_data, tmp_path / "mounted-elsewhere")  # same files, other path: accepted
    ran = inat("agent", sweep_id, "--data", same, "--workspace", ws, "--count", "1", env=_fake())
    assert ran.returncode == 0 and "holds the sweep's dataset" in ran.stdout and "1 finished" in ran.stdout
    # a sweep created without --data adopts the first agent's, and says so
    bare = inat("sweep", "create", spec, "--workspace", ws, "--new").stdout.strip().splitlines()[-1]
    adopted = inat("agent", bare, "--data", tiny_data, "--workspace", ws, "--count", "1", env=_fake())
    assert adopted.returncode == 0 and "adopting --data" in adopted.stdout
    assert inat("agent", bare, "--data", other, "--workspace", ws, env=_fake()).returncode == 2


@pytest.mark.slow
def test_requeue_queues_each_failed_point_once(tmp_path, tiny_data):
    ws = tmp_path / "ws"
    # 5 valid-padded blocks cannot fit 16 px: every point fails on its own (a configuration failure)
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: bad\nmethod: grid\nparameters:\n  model: {value: scratch}\n  image_size: {value: 16}\n"
                    "  padding: {value: valid}\n  conv_blocks: {value: 5}\n  epochs: {value: 1}\n"
                    "  dense_units: {values: [4, 8]}\n")
    sweep_id = inat("sweep", "create", spec, "--data", tiny_data, "--workspace", ws).stdout.strip().splitlines()[-1]
    failed = inat("agent", sweep_id, "--data", tiny_data, "--workspace", ws)
    assert "0 finished" in failed.stdout and "2 failed" in failed.stdout, failed.stdout + failed.stderr
    vague = inat("sweep", "requeue", sweep_id, "--workspace", ws)
    assert vague.returncode == 2 and "2 × " in vague.stderr and "too small" in vague.stderr
    assert "nothing to re-queue" in inat("sweep", "requeue", sweep_id, "--reason", "NaN", "--workspace", ws).stdout
    first = inat("sweep", "requeue", sweep_id, "--reason", "TOO SMALL", "--workspace", ws)
    assert first.returncode == 0 and "2 point(s) queued again" in first.stdout, first.stderr
    again = inat("sweep", "requeue", sweep_id, "--all", "--workspace", ws)
    assert "nothing to re-queue" in again.stdout  # idempotent: the points are queued already
    # the re-queued points run (the sleep hook stands in for a fixed configuration) and finish the grid
    done = inat("agent", sweep_id, "--data", tiny_data, "--workspace", ws, env=_fake())
    assert done.returncode == 0 and "2 finished" in done.stdout, done.stdout + done.stderr
    import optuna

    trials = optuna.load_study(study_name=sweep_id, storage=f"sqlite:///{ws}/sweeps.db").get_trials()
    assert sorted(t.state.name for t in trials) == ["COMPLETE", "COMPLETE", "FAIL", "FAIL"]


def test_pruning_options_are_stored_at_create_shown_and_kept(tmp_path, run_cli):
    ws = tmp_path / "ws"
    spec = tmp_path / "hb.yaml"
    spec.write_text((SWEEPS / "smoke.yaml").read_text().replace("parameters:", "early_terminate: {type: hyperband, "
                                                                "min_iter: 1, eta: 3}\nparameters:", 1))
    code, out, err = run_cli("sweep", "create", spec, "--workspace", ws, "--prune-judge", "last")
    assert code == 0, err
    sweep_id = out.strip().splitlines()[-1]
    study = optuna.load_study(study_name=sweep_id, storage=f"sqlite:///{ws / 'sweeps.db'}")
    assert study.user_attrs["pruning"] == {"judge": "last", "rungs": "min_iter"}
    code, out, _ = run_cli("sweep", "status", sweep_id, "--workspace", ws)
    assert "rungs min_iter" in out and "judged on the rung epoch" in out
    code, _, err = run_cli("sweep", "create", spec, "--workspace", ws, "--prune-judge", "best")
    assert code == 2 and "--new" in err and "judge last" in err  # its trials were judged the other way
    code, _, err = run_cli("sweep", "create", spec, "--workspace", ws, "--prune-rungs", "sideways", "--new")
    assert code == 2 and "min_iter, max_iter" in err
    code, out, _ = run_cli("sweep", "create", SWEEPS / "smoke.yaml", "--workspace", ws)  # no early_terminate
    study = optuna.load_study(study_name=out.strip().splitlines()[-1], storage=f"sqlite:///{ws / 'sweeps.db'}")
    assert study.user_attrs["pruning"] == {"judge": "best", "rungs": "min_iter"}  # the defaults, stored
