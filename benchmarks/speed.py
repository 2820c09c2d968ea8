"""Speed benchmark: one run, four measurements, each as a ratio (JSON + a table).

  step     our trial training step (build_model + compile_model + fit over ArrayBatches, the
           device's dtype policy) vs a hand-tuned PyTorch reference of the same network, same
           batch, precision and size. GPU only (skipped on a CPU with the reason);
           --dry-run-step runs both at a tiny size on the CPU to check the code path.
  epochs   training epochs over the memory-mapped decode-once cache vs an in-memory copy.
  startup  claim -> first finished training step of run_trial in one process: a new
           architecture vs a repeated one; for JAX also across processes sharing
           <workspace>/cache/jax (child processes, one per backend installed).
  sweep    a 6-trial smoke sweep end to end: our engine (`inat-cnn sweep run`, one agent
           process, decode-once cache) vs a peer-style baseline (a fresh Python process per
           trial, keras.utils.image_dataset_from_directory decoding the JPEGs every epoch,
           same model and epochs, wandb offline).

Run:  .venv/bin/python benchmarks/speed.py [--root /tmp/inat_bench] [--only step,epochs,startup,sweep]
      [--out speed.json]     (the dataset is synthesized on the first run, as in data_pipeline.py)
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SECTIONS = ("step", "epochs", "startup", "sweep")
GOALS = {"step": ">= 1.0", "epochs": ">= 0.95", "startup": "repeated <= 3 s", "sweep": ">= 3"}
SMOKE = {"model": "scratch", "image_size": 32, "conv_blocks": 3, "kernel_size": 3, "dense_units": 32,
         "batch_size": 32, "epochs": 3, "learning_rate": 0.003}
SWEEP_GRID = {"filters": [8, 16, 32], "filter_org": ["same", "double"]}  # 6 trials


def quiet_env(**extra) -> dict:
    env = {**os.environ, "INAT_CNN_QUIET": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "TF_CPP_MIN_LOG_LEVEL": "3", **extra}
    env.pop("WANDB_API_KEY", None)
    return env


def skipped(reason: str) -> dict:
    print(f"  skipped: {reason}")
    return {"skipped": reason}


# --- step: our training step vs the PyTorch reference -------------------------------------------

def keras_images_per_s(config, accel, steps: int) -> dict:
    """Our trial path: build_model, compile_model, fit over ArrayBatches from host uint8 arrays."""
    import keras

    from inat_cnn.data import ArrayBatches
    from inat_cnn.models import build_model
    from inat_cnn.training.device import batch_options, dtype_policy, jit_setting
    from inat_cnn.training.optim import compile_model

    size, batch = config.image_size, config.batch_size
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch * steps, size, size, 3), dtype=np.uint8)
    y = rng.integers(0, 10, batch * steps).astype(np.int32)
    with dtype_policy(accel.policy):
        keras.backend.clear_session()
        model = build_model(config, 10)
        compile_model(model, config, learning_rate=1e-3, phase_steps=steps, num_classes=10,
                      jit_compile=jit_setting(accel.gpu))
        data = ArrayBatches(x, y, batch, shuffle=True, **batch_options(accel.gpu))
        started = time.perf_counter()
        model.fit(data, epochs=1, verbose=0)  # compile + one epoch
        first = time.perf_counter() - started
        started = time.perf_counter()
        model.fit(data, epochs=1, verbose=0)
        seconds = time.perf_counter() - started
    return {"images_per_s": len(y) / seconds, "first_epoch_s": first, "policy": accel.policy,
            "backend": keras.config.backend(), "feed": batch_options(accel.gpu)}


def bench_step(args) -> dict:
    from inat_cnn.training.device import detect_accelerator
    from inat_cnn.trial_config import parse_trial_config

    accel = detect_accelerator()
    if not accel.gpu and not args.dry_run_step:
        return skipped(f"no GPU visible to Keras backend {accel.backend} (GPU-only measurement; "
                       "--dry-run-step checks the code path on the CPU at a tiny size)")
    size, batch, steps = (args.step_size, args.step_batch, args.step_steps) if accel.gpu else (32, 16, 4)
    config = parse_trial_config({"model": "scratch", "image_size": size, "batch_size": batch, "conv_blocks": 5,
                                 "filters": 64, "kernel_size": 3, "batch_norm": True, "dense_units": 1024})
    result = {"device": accel.name, "image_size": size, "batch_size": batch, "steps": steps,
              "ours": keras_images_per_s(config, accel, steps)}
    try:
        sys.path.insert(0, str(HERE))
        from torch_reference import reference_images_per_s
    except ImportError as err:
        result["reference"] = skipped(f"torch is not importable ({err}); pip install torch to compare")
        return result
    result["reference"] = reference_images_per_s(
        image_size=size, batch_size=batch, filters=list(config.filter_plan), kernels=list(config.kernel_plan),
        dense_units=config.dense_units, num_classes=10, dropout=config.dropout, precision=accel.policy,
        steps=steps * (3 if accel.gpu else 1), warmup=10 if accel.gpu else 2, compile=accel.gpu)
    result["ratio"] = result["ours"]["images_per_s"] / result["reference"]["images_per_s"]
    return result


# --- epochs: memmapped cache vs in-memory arrays ------------------------------------------------

def bench_epochs(args) -> dict:
    import keras

    from inat_cnn.data import ArrayBatches, load_splits
    from inat_cnn.models import build_model
    from inat_cnn.training.device import batch_options, detect_accelerator, dtype_policy, jit_setting
    from inat_cnn.training.optim import compile_model
    from inat_cnn.trial_config import parse_trial_config

    accel = detect_accelerator()
    splits = load_splits(args.root, args.epoch_size, cache_dir=args.workdir / "epochs_cache")
    in_memory = np.array(splits.x_train)
    config = parse_trial_config({**SMOKE, "image_size": args.epoch_size, "filters": 16})
    feed = batch_options(accel.gpu)
    times: dict[str, list[float]] = {"cache": [], "memory": []}
    with dtype_policy(accel.policy):
        keras.backend.clear_session()
        model = build_model(config, splits.num_classes)
        compile_model(model, config, learning_rate=1e-3, phase_steps=100, num_classes=splits.num_classes,
                      jit_compile=jit_setting(accel.gpu))
        sources = {"cache": splits.x_train, "memory": in_memory}
        model.fit(ArrayBatches(in_memory, splits.y_train, 32, shuffle=True, **feed), epochs=1, verbose=0)  # warm-up
        for _ in range(args.epoch_rounds):  # interleaved, so load changes hit both alike
            for name, x in sources.items():
                data = ArrayBatches(x, splits.y_train, 32, shuffle=True, **feed)
                started = time.perf_counter()
                model.fit(data, epochs=1, verbose=0)
                times[name].append(time.perf_counter() - started)
    n = len(splits.y_train)
    cache_rate, memory_rate = n / statistics.median(times["cache"]), n / statistics.median(times["memory"])
    return {"image_size": args.epoch_size, "images": n, "epoch_seconds": times, "cache_images_per_s": cache_rate,
            "memory_images_per_s": memory_rate, "ratio": cache_rate / memory_rate,
            "ratio_best_of": min(times["memory"]) / min(times["cache"]), "feed": feed}


# --- startup: claim -> first training step ------------------------------------------------------

def startup_child(args) -> None:
    """In a child process: run_trial for architectures A, B, A; print claim -> first step of each."""
    from inat_cnn.data import load_splits
    from inat_cnn.training import callbacks, run_trial

    first_steps: list[float] = []

    def on_train_batch_end(self, batch, logs=None):  # benchmark-only: stamps the first finished step
        if batch == 0 and len(first_steps) < len(seen):
            first_steps.append(time.perf_counter())

    callbacks.TrialMonitor.on_train_batch_end = on_train_batch_end
    ws = args.workdir / "startup_ws"
    splits = load_splits(args.root, SMOKE["image_size"], cache_dir=ws / "cache")  # the agent keeps these
    archs = {"A": {"filters": 8, "filter_org": "same"}, "B": {"filters": 16, "filter_org": "double"}}
    seen: list[float] = []
    results = []
    for i, name in enumerate(("A", "B", "A")):
        config = {**SMOKE, **archs[name], "epochs": 1, "viz": False}
        seen.append(time.perf_counter())  # the claim: the agent has the config and the splits
        run_trial(config, args.root, args.workdir / f"startup_runs/{time.time_ns()}-{i}", workspace=ws,
                  splits=splits, wandb_mode="offline")
        results.append({"arch": name, "startup_s": first_steps[i] - seen[i]})
    print("STARTUP " + json.dumps(results))


def run_startup_child(args, backend: str) -> list[dict]:
    cmd = [sys.executable, __file__, "--startup-child", "--root", str(args.root), "--workdir", str(args.workdir)]
    done = subprocess.run(cmd, env=quiet_env(KERAS_BACKEND=backend), capture_output=True, text=True, timeout=900)
    line = next((x for x in done.stdout.splitlines() if x.startswith("STARTUP ")), None)
    if done.returncode or line is None:
        raise RuntimeError(f"startup child ({backend}) failed:\n{done.stderr[-3000:]}")
    return json.loads(line.removeprefix("STARTUP "))


def bench_startup(args) -> dict:
    import importlib.util

    shutil.rmtree(args.workdir / "startup_ws" / "cache" / "jax", ignore_errors=True)
    result: dict = {}
    backends = [b for b in ("tensorflow", "jax") if importlib.util.find_spec(b)]
    for backend in backends:
        runs = run_startup_child(args, backend)
        result[backend] = {"first_in_process_s": runs[0]["startup_s"], "new_arch_s": runs[1]["startup_s"],
                           "repeated_arch_s": runs[2]["startup_s"]}
        result[backend]["ratio"] = runs[2]["startup_s"] / runs[1]["startup_s"]
        if backend == "jax":  # a fresh process whose architectures another process compiled
            again = run_startup_child(args, backend)
            result[backend]["fresh_process_cached_s"] = again[0]["startup_s"]
            result[backend]["cross_process_ratio"] = again[0]["startup_s"] / runs[0]["startup_s"]
    for backend in ("tensorflow", "jax"):
        result.setdefault(backend, skipped(f"{backend} is not importable"))
    return result


# --- sweep: our engine vs a peer-style baseline -------------------------------------------------

def sweep_yaml(path: Path, viz: bool, epochs: int | None) -> Path:
    """sweeps/smoke.yaml with 3 x 2 grid points (6 trials), viz on or off, optionally other epochs."""
    import yaml

    spec = yaml.safe_load((HERE.parent / "sweeps" / "smoke.yaml").read_text())
    spec["name"] = "smoke6"
    spec["parameters"].update({key: {"values": values} for key, values in SWEEP_GRID.items()})
    spec["parameters"]["viz"] = {"value": viz}
    if epochs:
        spec["parameters"]["epochs"] = {"value": epochs}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def our_sweep_seconds(args, folder: Path, viz: bool) -> tuple[float, dict]:
    """Wall time of `inat-cnn sweep run` (one agent) in a fresh workspace: decode included."""
    spec_file = sweep_yaml(folder / f"smoke6_viz_{viz}.yaml", viz, args.sweep_epochs)
    ws = folder / f"ours_viz_{viz}"
    cli = Path(sys.executable).with_name("inat-cnn")
    started = time.perf_counter()
    done = subprocess.run([str(cli), "sweep", "run", str(spec_file), "--data", str(args.root), "--agents", "1",
                           "--workspace", str(ws)], env=quiet_env(KERAS_BACKEND="tensorflow"), capture_output=True,
                          text=True, timeout=1800)
    seconds = time.perf_counter() - started
    metrics = [json.loads(p.read_text()) for p in sorted(ws.glob("runs/*/trial-*/metrics.json"))]
    if done.returncode or sum(m["state"] == "finished" for m in metrics) != 6:
        raise RuntimeError(f"our sweep: exit {done.returncode}, {len(metrics)} trials\n{done.stderr[-3000:]}")
    return seconds, {"trial_wall_s": [round(m["wall_time_s"], 2) for m in metrics],
                     "trial_startup_s": [round(m["startup_s"], 2) for m in metrics]}


def peer_trial(args) -> None:
    """A peer-style trial in its own process: directory datasets decoded every epoch, wandb offline."""
    import keras
    import tensorflow as tf
    import wandb

    from inat_cnn.models import build_model
    from inat_cnn.training.optim import compile_model
    from inat_cnn.trial_config import parse_trial_config

    params = json.loads(args.peer_trial)
    cfg = parse_trial_config(params)
    out = Path(tempfile.mkdtemp(prefix="peer_", dir=args.workdir))
    run = wandb.init(project="peer-baseline", config=params, mode="offline", dir=str(out),
                     settings=wandb.Settings(silent=True, console="off"))
    kw = dict(image_size=(cfg.image_size, cfg.image_size), batch_size=cfg.batch_size, seed=cfg.seed, verbose=False)
    split = dict(validation_split=cfg.val_fraction, **kw)
    train = keras.utils.image_dataset_from_directory(args.root / "train", subset="training", **split)
    val = keras.utils.image_dataset_from_directory(args.root / "train", subset="validation", **split)
    test = keras.utils.image_dataset_from_directory(args.root / "val", shuffle=False, **kw)
    classes = len(train.class_names)
    model = build_model(cfg, classes)
    compile_model(model, cfg, learning_rate=cfg.learning_rate, phase_steps=cfg.epochs * len(train),
                  num_classes=classes, jit_compile=False)
    log = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: run.log({**logs, "epoch": epoch + 1}))
    model.fit(train.prefetch(tf.data.AUTOTUNE), validation_data=val.prefetch(tf.data.AUTOTUNE),
              epochs=cfg.epochs, callbacks=[log], verbose=0)
    model.save(out / "model.keras")
    run.summary["test_accuracy"] = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]
    run.finish()


def bench_sweep(args) -> dict:
    import importlib.util

    import yaml

    if importlib.util.find_spec("tensorflow") is None:
        return skipped("a CPU measurement on TensorFlow (the peers' stack); tensorflow is not importable here")
    folder = args.workdir / "sweep"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    result: dict = {"trials": 6}
    for viz in (True, False):
        seconds, detail = our_sweep_seconds(args, folder, viz)
        result[f"ours_viz_{'on' if viz else 'off'}_s"] = seconds
        result[f"ours_viz_{'on' if viz else 'off'}"] = detail
    base = yaml.safe_load((folder / "smoke6_viz_False.yaml").read_text())["parameters"]
    fixed = {k: v["value"] for k, v in base.items() if "value" in v}
    peer_times = []
    for values in itertools.product(*SWEEP_GRID.values()):
        params = {**fixed, **dict(zip(SWEEP_GRID, values))}
        started = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--peer-trial", json.dumps(params), "--root", str(args.root),
                        "--workdir", str(folder)], env=quiet_env(KERAS_BACKEND="tensorflow"), check=True,
                       capture_output=True, timeout=900)
        peer_times.append(time.perf_counter() - started)
    result.update(epochs=fixed["epochs"], image_size=fixed["image_size"], peer_s=sum(peer_times),
                  peer_trial_s=[round(t, 2) for t in peer_times])
    result["ratio"] = result["peer_s"] / result["ours_viz_off_s"]  # the same work as the peers: no figures
    result["ratio_viz_on"] = result["peer_s"] / result["ours_viz_on_s"]
    return result


# --- driver -------------------------------------------------------------------------------------

def table(results: dict) -> str:
    rows = [("section", "ours", "baseline", "ratio", "goal")]
    s = results["sections"]
    if "step" in s and "ratio" in s["step"]:
        st = s["step"]
        rows.append(("step img/s", f"{st['ours']['images_per_s']:.0f}", f"{st['reference']['images_per_s']:.0f}",
                     f"{st['ratio']:.2f}", GOALS["step"]))
    if "epochs" in s:
        e = s["epochs"]
        rows.append(("cached epoch img/s (median)", f"{e['cache_images_per_s']:.0f}", f"{e['memory_images_per_s']:.0f}",
                     f"{e['ratio']:.3f} (best-of {e['ratio_best_of']:.3f})", GOALS["epochs"]))
    for backend, st in s.get("startup", {}).items():
        if "ratio" in st:
            rows.append((f"startup {backend} repeated/new s", f"{st['repeated_arch_s']:.2f}", f"{st['new_arch_s']:.2f}",
                         f"{st['ratio']:.2f}", GOALS["startup"]))
        if "cross_process_ratio" in st:
            rows.append((f"startup {backend} fresh process cached/cold s", f"{st['fresh_process_cached_s']:.2f}",
                         f"{st['first_in_process_s']:.2f}", f"{st['cross_process_ratio']:.2f}", "-"))
    if "sweep" in s:
        sw = s["sweep"]
        rows.append(("6-trial sweep s, viz off (peer/ours)", f"{sw['ours_viz_off_s']:.1f}", f"{sw['peer_s']:.1f}",
                     f"{sw['ratio']:.2f}", GOALS["sweep"]))
        rows.append(("6-trial sweep s, viz on (peer/ours)", f"{sw['ours_viz_on_s']:.1f}", f"{sw['peer_s']:.1f}",
                     f"{sw['ratio_viz_on']:.2f}", "-"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "inat_bench")
    p.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "inat_speed")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {', '.join(SECTIONS)}")
    p.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    p.add_argument("--step-size", type=int, default=224)
    p.add_argument("--step-batch", type=int, default=128)
    p.add_argument("--step-steps", type=int, default=50)
    p.add_argument("--dry-run-step", action="store_true", help="run the step section on a CPU at a tiny size")
    p.add_argument("--epoch-size", type=int, default=64)
    p.add_argument("--epoch-rounds", type=int, default=5)
    p.add_argument("--sweep-epochs", type=int, default=None, help="epochs per sweep trial (default: smoke.yaml's 3)")
    p.add_argument("--startup-child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--peer-trial", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    for key, value in quiet_env().items():
        os.environ.setdefault(key, value)
    args.workdir.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(HERE.parent))
    if args.startup_child:
        return startup_child(args)
    if args.peer_trial:
        return peer_trial(args)
    sys.path.insert(0, str(HERE))
    from data_pipeline import make_dataset

    make_dataset(args.root, 200, 20)
    import keras

    results = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.platform(),
               "cpus": os.cpu_count(), "python": platform.python_version(),
               "keras_backend": keras.config.backend(), "keras": keras.__version__,
               "command": " ".join([Path(sys.executable).name, *sys.argv]), "sections": {}}
    benches = {"step": bench_step, "epochs": bench_epochs, "startup": bench_startup, "sweep": bench_sweep}
    for name in [s.strip() for s in args.only.split(",") if s.strip()]:
        print(f"[{name}] ...", flush=True)
        started = time.perf_counter()
        results["sections"][name] = benches[name](args)
        print(f"[{name}] {time.perf_counter() - started:.0f} s", flush=True)
    print(json.dumps(results, indent=1, default=str))
    print(table(results))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
