"""Per-epoch levers for the time-to-target space on the CPU (#19): steps_per_execution, bfloat16, batch feed.

One process per setting (a fresh trace each), one core (what each of ``sweep run --agents 2``'s agents gets),
a representative configuration of ``benchmarks/ttt_space.yaml`` (4 blocks, 16 filters doubling, batch norm,
dropout 0.2, 128 dense units) on scikit-learn's digits at 32 px (980 train / 420 validation images, run G's
split sizes), 10 epochs. Prints one JSON line per setting: the first epoch (tracing included) and the median
later epoch.

    .venv/bin/python benchmarks/epoch_levers.py            # the grid below, ~5 min on an idle 2-core CPU
    .venv/bin/python benchmarks/epoch_levers.py --one py 8 16 float32
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

GRID = [("py", 1, 16, "float32"), ("py", 8, 16, "float32"), ("np", 1, 16, "float32"), ("np", 8, 16, "float32"),
        ("py", 1, 16, "mixed_bfloat16"), ("py", 1, 64, "float32"), ("py", 1, 64, "mixed_bfloat16")]


def measure(feed: str, steps_per_execution: int, batch_size: int, policy: str) -> dict:
    """Train the configuration once; ``feed``: ``py`` (the engine's ArrayBatches) or ``np`` (in-memory arrays)."""
    import keras
    import numpy as np
    from sklearn.datasets import load_digits

    from inat_cnn.data import ArrayBatches
    from inat_cnn.models import build_model
    from inat_cnn.training.optim import compile_model
    from inat_cnn.trial_config import parse_trial_config

    keras.config.set_dtype_policy(policy)
    digits = load_digits()
    x = np.kron((digits.images / 16 * 255).astype(np.uint8), np.ones((4, 4), dtype=np.uint8))  # 8 -> 32 px
    x, y = np.repeat(x[..., None], 3, -1)[:1400], digits.target[:1400].astype(np.int32)
    cfg = parse_trial_config(dict(model="scratch", image_size=32, epochs=10, conv_blocks=4, filters=16,
                                  filter_org="double", batch_norm=True, dropout=0.2, dense_units=128,
                                  learning_rate=1e-3, batch_size=batch_size))
    model = build_model(cfg, 10)
    compile_model(model, cfg, learning_rate=1e-3, phase_steps=-(-980 // batch_size) * 10, num_classes=10,
                  jit_compile=False)
    if steps_per_execution > 1:
        model.compile(optimizer=model.optimizer, loss=model.loss, jit_compile=False,
                      metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                      steps_per_execution=steps_per_execution)
    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.begun = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.begun)

    if feed == "py":
        model.fit(ArrayBatches(x[:980], y[:980], batch_size, shuffle=True),
                  validation_data=ArrayBatches(x[980:], y[980:], batch_size, shuffle=False),
                  epochs=10, verbose=0, shuffle=False, callbacks=[Timer()])
    else:
        model.fit(x[:980].astype("float32"), y[:980], batch_size=batch_size, epochs=10, verbose=0,
                  validation_data=(x[980:].astype("float32"), y[980:]), callbacks=[Timer()])
    return {"feed": feed, "steps_per_execution": steps_per_execution, "batch_size": batch_size, "policy": policy,
            "first_epoch_s": round(times[0], 3), "later_epoch_s": round(float(np.median(times[1:])), 3)}


def main(argv: list[str]) -> None:
    if argv[:1] == ["--one"]:
        feed, spe, batch, policy = argv[1], int(argv[2]), int(argv[3]), argv[4]
        print(json.dumps(measure(feed, spe, batch, policy)))
        return
    env = os.environ | {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                        "TF_CPP_MIN_LOG_LEVEL": "3"}
    for setting in GRID:
        done = subprocess.run([sys.executable, __file__, "--one", *map(str, setting)], env=env,
                              capture_output=True, text=True, check=True)
        print(done.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
