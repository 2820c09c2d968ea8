"""Data-pipeline benchmark: images/s of Keras' directory loader vs our decode-once cache.

On one synthetic JPEG folder (>= 2,000 images, 500-800 px, iNaturalist layout) it measures
  (a) keras.utils.image_dataset_from_directory, one epoch (decodes every epoch),
  (b) our first pass: load_splits with an empty cache (scan + split + parallel decode; also
      its decode phase alone), next to the parallel-PIL limit (decode_image in a process
      pool, nothing written),
  (c) later epochs: ArrayBatches over the memmapped cache,
  (d) the same ArrayBatches over an in-memory numpy copy.

Run:  .venv/bin/python benchmarks/data_pipeline.py [--root /tmp/inat_bench] [--image-size 224]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np


def make_dataset(root: Path, per_class: int, test_per_class: int) -> Path:
    """Synthesize the benchmark folder once (reused when already there)."""
    from inat_cnn.data import synthesize

    marker = root / ".inat_cnn_synthetic"
    want = f"classes=10 per_class={per_class} test_per_class={test_per_class} seed=0\n"
    if marker.exists() and marker.read_text() == want:
        return root
    started = time.perf_counter()
    synthesize(root, classes=10, per_class=per_class, test_per_class=test_per_class, min_side=500, max_side=800)
    print(f"synthesized {10 * (per_class + test_per_class)} JPEGs in {time.perf_counter() - started:.0f} s")
    return root


def _decode_many(args):
    from inat_cnn.data import decode_image

    paths, size = args
    for p in paths:
        decode_image(p, size)
    return len(paths)


def parallel_pil_limit(files: list[str], size: int, workers: int) -> float:
    """images/s of decode_image over a process pool, results thrown away (the ceiling for (b))."""
    import multiprocessing

    chunks = [(files[i : i + 32], size) for i in range(0, len(files), 32)]
    started = time.perf_counter()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        done = sum(pool.map(_decode_many, chunks))
    return done / (time.perf_counter() - started)


def keras_directory_epoch(train_dir: Path, size: int, batch: int) -> float:
    import keras
    import tensorflow as tf

    ds = keras.utils.image_dataset_from_directory(
        train_dir, image_size=(size, size), batch_size=batch, shuffle=True, seed=0, verbose=False
    ).prefetch(tf.data.AUTOTUNE)
    started, n = time.perf_counter(), 0
    for x, _ in ds:
        n += int(x.shape[0])
    return n / (time.perf_counter() - started)


def batches_rate(x, y, batch: int, epochs: int) -> float:
    """images/s of iterating ArrayBatches (shuffled, float32) for a few epochs."""
    from inat_cnn.data import ArrayBatches

    batches = ArrayBatches(x, y, batch, shuffle=True, seed=0)
    started, n = time.perf_counter(), 0
    for _ in range(epochs):
        for i in range(len(batches)):
            bx, _ = batches[i]
            n += len(bx)
        batches.on_epoch_end()
    return n / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "inat_bench")
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--per-class", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=3, help="epochs for (c) and (d)")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = parser.parse_args()
    os.environ.setdefault("INAT_CNN_QUIET", "1")
    from inat_cnn.data import load_splits
    from inat_cnn.data.cache import cache_folder, decode_workers

    root = make_dataset(args.root, args.per_class, args.per_class // 10)
    size, batch, workers = args.image_size, args.batch_size, decode_workers()
    train_files = sorted(str(p) for p in (root / "train").rglob("*.jpg"))
    all_files = train_files + sorted(str(p) for p in (root / "val").rglob("*.jpg"))
    results = {"images_train": len(train_files), "images_total": len(all_files), "image_size": size,
               "batch_size": batch, "workers": workers, "cpus": os.cpu_count(), "machine": platform.platform(),
               "processor": platform.processor() or platform.machine(),
               "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}  # fmt: skip

    results["pil_1_process"] = parallel_pil_limit(all_files[:300], size, 1)
    results["pil_parallel_limit"] = parallel_pil_limit(all_files, size, workers)
    cache = Path(tempfile.mkdtemp(prefix="inat_bench_cache_"))
    try:
        started = time.perf_counter()
        s = load_splits(root, size, cache_dir=cache)
        results["first_pass_seconds"] = time.perf_counter() - started
        results["b_first_pass"] = len(all_files) / results["first_pass_seconds"]
        meta = json.loads((cache_folder(cache, s.split_id, size, "squash") / "meta.json").read_text())
        results["b_decode_phase"] = len(meta["files"]) / meta["seconds"]  # without scan, probe and split
        started = time.perf_counter()
        s = load_splits(root, size, cache_dir=cache)
        results["reuse_seconds"] = time.perf_counter() - started
        x_mem = np.array(s.x_train)  # (d): the same rows, in RAM
        batches_rate(s.x_train, s.y_train, batch, 1)  # warm the page cache as later epochs would find it
        results["c_cache_epochs"] = batches_rate(s.x_train, s.y_train, batch, args.epochs)
        results["d_in_memory"] = batches_rate(x_mem, s.y_train, batch, args.epochs)
        results["a_keras_directory"] = keras_directory_epoch(root / "train", size, batch)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    results["c_over_d"] = results["c_cache_epochs"] / results["d_in_memory"]
    results["b_over_pil_limit"] = results["b_first_pass"] / results["pil_parallel_limit"]
    results["b_decode_over_pil_limit"] = results["b_decode_phase"] / results["pil_parallel_limit"]
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in results.items()}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
