"""A quiet terminal: no framework start-up line on stderr from `inat-cnn`, `-v` brings them back, and what
matters (our errors, a native line that is not start-up noise, the last words of a crashing process) shows."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from inat_cnn.cli.quiet import is_noise

SCRIPT = Path(sys.executable).with_name("inat-cnn")
# Lines TensorFlow 2.21 printed on stderr for `inat-cnn train` on a CPU machine before the filter (measured).
MEASURED = [
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"I0000 00:00:1796162681.429030   24912 port.cc:153] oneDNN custom operations are on. You may see slightly "
    b"different numerical results due to floating-point round-off errors from different computation orders. To "
    b"turn them off, set the environment variable `TF_ENABLE_ONEDNN_OPTS=0`.",
    b"I0000 00:00:1796162681.438705   24912 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU "
    b"will not be used.",
    b"I0000 00:00:1796162722.444929   26815 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    b"available CPU instructions in performance-critical operations.",
    b"To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the "
    b"appropriate compiler flags.",
]
CUINIT = (b"E0000 00:00:1796162696.552451   24912 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: "
          b"Failed call to cuInit: UNKNOWN ERROR (303)")
STARTUP = re.compile(r"absl::InitializeLog|oneDNN custom operations|cudart_stub|cpu_feature_guard|cuInit|"
                     r"^[IWE]\d{4} ", re.M)


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "INAT_CNN_VERBOSE",
                                                             "INAT_CNN_QUIET")}  # fmt: skip
    return {**env, **extra}


def test_the_measured_lines_are_noise_and_errors_are_not():
    assert all(is_noise(line, no_driver=False) for line in MEASURED)
    assert is_noise(CUINIT, no_driver=True) and not is_noise(CUINIT, no_driver=False)  # news where a driver is
    for line in (b"error: no such dataset folder x", b"Traceback (most recent call last):",
                 b"E0000 00:00:1.2   1 bfc_allocator.cc:1] Allocator ran out of memory trying to allocate 2.0GiB",
                 b"F0000 00:00:1.2   1 check.cc:1] Check failed: x"):
        assert not is_noise(line, no_driver=True), line


@pytest.mark.slow
def test_the_filter_drops_noise_forwards_the_rest_and_survives_an_abort(tmp_path):
    noise = b"\n".join(MEASURED + [CUINIT]) + b"\nnative news\n"
    code = ("import os, sys\nfrom inat_cnn.cli import quiet\nquiet.install_stderr_filter()\n"
            f"os.write(2, {noise!r})\n"
            "print('python error line', file=sys.stderr)\nos.write(2, b'last words')\nos.abort()\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, env=_env())
    assert proc.returncode != 0
    assert proc.stderr.count(b"\n") == 2 and b"native news\n" in proc.stderr and b"python error line" in proc.stderr
    assert proc.stderr.endswith(b"last words"), proc.stderr  # written just before abort(): still forwarded


@pytest.mark.slow
def test_train_prints_no_tensorflow_startup_line_and_verbose_brings_them_back(tmp_path):
    from inat_cnn.data import synthesize

    data = synthesize(tmp_path / "d", classes=2, per_class=4, test_per_class=2, min_side=16, max_side=24)
    args = ["train", "--data", str(data), "--set", "model=scratch", "--set", "image_size=16", "--set", "epochs=1",
            "--set", "conv_blocks=1", "--set", "filters=2", "--set", "dense_units=4", "--set", "viz=false"]
    env = _env(INAT_CNN_HOME=str(tmp_path / "ws"))
    quiet = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=300, env=env)
    assert quiet.returncode == 0 and "best epoch 1" in quiet.stdout, quiet.stderr[-3000:]
    assert not STARTUP.search(quiet.stderr), quiet.stderr
    assert "epoch 1 [train]" in quiet.stderr  # our own progress lines still show
    loud = subprocess.run([sys.executable, "-m", "inat_cnn", "-v", *args], capture_output=True, text=True,
                          timeout=300, env=env)  # fmt: skip
    assert loud.returncode == 0 and STARTUP.search(loud.stderr), loud.stderr[-3000:]
    bad = subprocess.run([str(SCRIPT), "train", "--data", str(tmp_path / "none")], capture_output=True, text=True,
                         timeout=300, env=env)  # fmt: skip
    assert bad.returncode == 2 and "error:" in bad.stderr and "Traceback" not in bad.stderr
