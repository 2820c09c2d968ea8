"""Resume: a trial preempted at epoch 3 of 6 continues in another agent, and ends as if never interrupted."""

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from inat_cnn.training import resume as points
from inat_cnn.workspace import Workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from wandb_files import read_wandb_history  # noqa: E402

# Relative, on every per-epoch number (loss, accuracy, val_loss, val_accuracy, lr), before and after the
# resume point. Measured on CPU TensorFlow: the resumed history is bit-identical to the uninterrupted one
# (augmentation and dropout on). The margin only allows for a float reduction order that could differ
# between two CPUs, should the resuming agent run on another kind of machine; a real miss is far larger
# (Keras' own batch shuffle, which used Python's global random, made the resumed epochs drift by 5e-4 to
# 5e-2 absolute in loss, 1e-3 to 1e-1 relative).
TOLERANCE = 1e-6


def _history(folder: Path) -> list[dict]:
    with open(folder / "history.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def slower_data(tmp_path_factory) -> Path:
    """Enough images that an epoch outlasts the round trip from the test's signal to the trial process."""
    from inat_cnn.data import synthesize

    return synthesize(tmp_path_factory.mktemp("data") / "d", classes=3, per_class=60, test_per_class=4, seed=3,
                      min_side=20, max_side=32)


@pytest.mark.slow
def test_sigterm_at_epoch_3_of_6_resumes_in_another_agent_with_an_uninterrupted_history(tmp_path, slower_data):
    ws = Workspace(tmp_path / "ws")
    spec = tmp_path / "r.yaml"
    spec.write_text("name: r\nmethod: grid\nparameters:\n  model: {value: scratch}\n  image_size: {value: 16}\n"
                    "  conv_blocks: {value: 2}\n  filters: {value: 4}\n  dense_units: {value: 8}\n"
                    "  batch_size: {value: 8}\n  epochs: {value: 6}\n  viz: {value: false}\n"
                    "  augment: {value: true}\n  dropout: {values: [0.2]}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("INAT_CNN_STORAGE", "INAT_CNN_FAKE_TRIAL_S")}
    inat = [sys.executable, "-m", "inat_cnn"]
    sweep = subprocess.run(inat + ["sweep", "create", spec, "--data", slower_data, "--workspace", ws.root], env=env,
                           capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    first_dir, second_dir = ws.runs / sweep / "trial-0000", ws.runs / sweep / "trial-0001"
    agent = subprocess.Popen(inat + ["agent", sweep, "--data", slower_data, "--workspace", ws.root], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    end = time.time() + 300
    while time.time() < end and (points.read_point(first_dir) or {}).get("epoch", 0) < 3:
        time.sleep(0.02)
    agent.send_signal(signal.SIGTERM)
    out, _ = agent.communicate(timeout=180)
    assert agent.returncode == 0 and "preempted" in out.decode(), out.decode()[-3000:]
    stopped_at = points.read_point(first_dir)["epoch"]
    assert 3 <= stopped_at < 6

    other = subprocess.run(inat + ["agent", sweep, "--data", slower_data, "--workspace", ws.root], env=env,
                           capture_output=True, text=True, timeout=300)  # another agent: any that sees the workspace
    assert other.returncode == 0 and "1 finished" in other.stdout, other.stdout[-3000:] + other.stderr[-3000:]
    study = optuna.load_study(study_name=sweep, storage=ws.db_url)
    first, second = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    assert first.state == TrialState.FAIL and first.user_attrs["preempted"]
    assert second.state == TrialState.COMPLETE
    assert second.user_attrs["resumed_from"] == {"trial": 0, "epoch": stopped_at}
    assert sorted(second.intermediate_values) == [1, 2, 3, 4, 5, 6]  # the pruner sees one whole curve

    import json

    m1, m2 = (json.loads((d / "metrics.json").read_text()) for d in (first_dir, second_dir))
    assert m1["wandb_run_id"] == m2["wandb_run_id"]  # one wandb run, resumed
    assert m2["epochs_run"] == 6 and m2["resumed_at_epoch"] == stopped_at
    # the second process trained (and logged) only the epochs after the resume point
    assert [int(r["epoch"]) for r in read_wandb_history(m2["wandb_run_dir"]) if "loss" in r] == \
        list(range(stopped_at + 1, 7))

    # the same trial, uninterrupted, in a fresh process
    ref_ws = Workspace(tmp_path / "ref")
    ref_sweep = subprocess.run(inat + ["sweep", "create", spec, "--data", slower_data, "--workspace", ref_ws.root],
                               env=env, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    ref = subprocess.run(inat + ["agent", ref_sweep, "--data", slower_data, "--workspace", ref_ws.root], env=env,
                         capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr[-3000:]
    resumed, uninterrupted = _history(second_dir), _history(ref_ws.runs / ref_sweep / "trial-0000")
    assert [r["epoch"] for r in resumed] == [r["epoch"] for r in uninterrupted] == [str(e) for e in range(1, 7)]
    for a, b in zip(resumed, uninterrupted):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=TOLERANCE, abs=1e-12), (a["epoch"], key)
    assert m2["best_epoch"] == json.loads((ref_ws.runs / ref_sweep / "trial-0000" / "metrics.json").read_text())[
        "best_epoch"]


def test_each_attempt_of_a_wandb_run_gets_its_own_folder_and_resumes_the_latest_point(tmp_path):
    base = tmp_path / "runs" / "wandb-sw1"
    assert points.attempt_folders(base, "run1") == (base / "run1", None)  # the first attempt
    (base / "run1").mkdir(parents=True)  # preempted before its first whole epoch: no point
    assert points.attempt_folders(base, "run1") == (base / "run1.1", None)
    (base / "run1.1" / points.FOLDER).mkdir(parents=True)
    (base / "run1.1" / points.FOLDER / "vars-0003.npz").write_bytes(b"")
    (base / "run1.1" / points.FOLDER / points.STATE).write_text('{"epoch": 3, "variables": "vars-0003.npz"}')
    (base / "run1.2").mkdir()  # preempted again before a point of its own
    (base / "run10").mkdir()  # another run whose id starts the same
    assert points.attempt_folders(base, "run1") == (base / "run1.3", {"from": str(base / "run1.1")})
