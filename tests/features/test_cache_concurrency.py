"""Two processes asking for the same features build them once; a killed builder leaves nothing readable."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

HERE = Path(__file__).parent


def _spawn(cache_dir, log, sleep_s, *more):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(HERE.parent.parent)])}
    return subprocess.Popen([sys.executable, str(HERE / "builder_proc.py"), str(cache_dir), str(log), str(sleep_s),
                             *more], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _kill_while_computing(proc, log):
    deadline = time.monotonic() + 60
    while not (log.exists() and log.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_two_processes_build_once(tmp_path):
    log = tmp_path / "calls.log"
    procs = [_spawn(tmp_path / "cache", log, 0.3) for _ in range(2)]
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sorted("built=True" in o for o in outs) == [False, True]
    assert len(set(log.read_text().split())) == 1  # one pid computed every batch
    assert len(log.read_text().split()) == 3  # 12 images (train, val, test in a row) in batches of 4: computed once


def test_killed_builder_leaves_nothing_a_reader_opens(tmp_path):
    from builder_proc import IDENTITY, SHAPES, compute_with, parts

    from inat_cnn.features.cache import feature_key, features_root, load_or_build

    log, cache_dir = tmp_path / "calls.log", tmp_path / "cache"
    _kill_while_computing(_spawn(cache_dir, log, 30.0), log)
    folder = features_root(cache_dir) / feature_key(IDENTITY)
    leftovers = list(folder.parent.glob(f"{folder.name}.tmp-*"))
    assert not folder.exists() and len(leftovers) == 1  # half a build, under a name no reader opens
    got = load_or_build(cache_dir, IDENTITY, SHAPES, parts(), compute_with(tmp_path / "mine.log", 0.0), batch=4)
    assert got.built and not leftovers[0].exists()
    x = parts()["train"].reshape(8, -1).astype(np.float32)
    np.testing.assert_allclose(got.parts["train"][0], np.stack([x.mean(1), x.max(1)], 1), rtol=1e-3)
    assert got.meta["dtype"] == "float16"


def test_killed_builder_of_several_cuts_leaves_only_tmp_folders(tmp_path):
    from builder_proc import EXTRA, IDENTITY, SHAPES, compute_with, parts

    from inat_cnn.features.cache import feature_key, features_root, load_or_build

    log, cache_dir = tmp_path / "calls.log", tmp_path / "cache"
    _kill_while_computing(_spawn(cache_dir, log, 30.0, "extra"), log)
    root = features_root(cache_dir)
    assert sorted(p.name.split(".tmp-")[0] for p in root.iterdir() if p.is_dir()) == sorted(
        [feature_key(IDENTITY), feature_key(EXTRA)])  # both half-built, both under .tmp- names
    assert all(".tmp-" in p.name for p in root.iterdir() if p.is_dir())
    got = load_or_build(cache_dir, EXTRA, SHAPES, parts(), compute_with(tmp_path / "mine.log", 0.0), batch=4)
    assert got.built and not list(root.glob(f"{feature_key(EXTRA)}.tmp-*"))  # its builder removed the debris


def test_values_beyond_float16_are_stored_as_float32(tmp_path):
    from builder_proc import IDENTITY, SHAPES, parts

    from inat_cnn.features.cache import load_or_build

    got = load_or_build(tmp_path, IDENTITY, SHAPES, parts(), lambda x: [np.full((len(x), 2), 1e6, np.float32)])
    assert got.meta["dtype"] == "float32" and float(got.parts["val"][0].max()) == 1e6
