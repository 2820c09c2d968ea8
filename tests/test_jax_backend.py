"""KERAS_BACKEND=jax: one real trial end to end without TensorFlow; device policy and compile cache.

The GPU machines have JAX but no TensorFlow, so the trial subprocess makes
``import tensorflow`` fail: anything on the trial path that still needs TF breaks here.
"""

import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import pytest

from inat_cnn.compile_cache import enable_compile_cache
from inat_cnn.training.device import Accelerator, batch_options, precision_policy, supports_bf16

HAS_JAX = importlib.util.find_spec("jax") is not None

NO_TENSORFLOW = textwrap.dedent("""
    import importlib.abc, sys

    class NoTensorFlow(importlib.abc.MetaPathFinder):  # like a GPU host with JAX only
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] == "tensorflow":
                raise ImportError("tensorflow is not installed on this host (blocked by the test)")

    sys.meta_path.insert(0, NoTensorFlow())
    from inat_cnn.cli import main
    sys.argv[0] = "inat-cnn"
    main()
""")


def test_precision_policy_per_device():
    assert precision_policy(False) == "float32"
    assert precision_policy(True, bf16=True) == "mixed_bfloat16"
    assert precision_policy(True, bf16=False) == "mixed_float16"
    assert Accelerator("tensorflow", True, "A100", (8, 0)).policy == "mixed_bfloat16"
    assert Accelerator("tensorflow", True, "V100", (7, 0)).policy == "mixed_float16"
    assert Accelerator("jax", True, "H100", (9, 0)).policy == "mixed_bfloat16"
    assert Accelerator("jax", False).policy == "float32"
    assert supports_bf16("jax", None) and not supports_bf16("tensorflow", None)


def test_batches_are_uint8_with_threads_on_gpu_and_float32_inline_on_cpu():
    assert batch_options(False) == {"dtype": "float32"}
    gpu = batch_options(True)
    assert gpu["dtype"] == "uint8" and gpu["workers"] >= 1


def test_tensorflow_has_no_persistent_compile_cache(tmp_path):
    assert enable_compile_cache(tmp_path, backend="tensorflow") is None
    assert not (tmp_path / "jax").exists()


@pytest.mark.slow
@pytest.mark.skipif(not HAS_JAX, reason="jax is not importable: pip install -e '.[jax]' (or '.[dev]')")
def test_jax_trial_runs_end_to_end_without_tensorflow(tmp_path):
    from inat_cnn.data import synthesize

    root = synthesize(tmp_path / "data", classes=3, per_class=8, test_per_class=3, min_side=20, max_side=32)
    workspace, out = tmp_path / "ws", tmp_path / "trial"
    env = {**os.environ, "KERAS_BACKEND": "jax", "INAT_CNN_QUIET": "1", "WANDB_MODE": "offline",
           "WANDB_DIR": str(tmp_path / "wandb"), "INAT_CNN_HOME": str(workspace), "JAX_PLATFORMS": "cpu"}
    args = ["train", "--data", str(root), "--out", str(out), "--workspace", str(workspace), "--offline",
            "--set", "image_size=16", "--set", "conv_blocks=2", "--set", "filters=4", "--set", "dense_units=8",
            "--set", "batch_size=8", "--set", "epochs=1", "--set", "viz=true"]
    done = subprocess.run([sys.executable, "-c", NO_TENSORFLOW, *args], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["state"] == "finished" and metrics["backend"] == "jax", metrics
    assert metrics["precision"] == "float32" and metrics["epochs_run"] == 1
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert "viz_error" not in metrics, metrics["viz_error"]
    assert (out / "model.keras").stat().st_size > 0
    for name in ("filters", "feature_maps", "guided_backprop", "predictions", "confusion_matrix"):
        assert (out / "viz" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    cache = workspace / "cache" / "jax"
    assert metrics["compile_cache"] == str(cache.resolve())
    assert any(p.name.endswith("-cache") for p in cache.iterdir()), "no compiled program was cached"
