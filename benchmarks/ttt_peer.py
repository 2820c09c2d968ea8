"""The peer arm: how peer projects run a W&B sweep, without W&B's server.

Random search over the same space (each parameter drawn independently, what W&B's random method does; the
draws for seed S are the engine's random stream for S, ``ttt_draws.peer_draws``, so that the peer and ours'
start-up trials try the same configurations), no early termination, and one fresh Python process per trial
(what `wandb agent` does) that imports Keras, opens an offline wandb run, reads ours' train and validation
split from two class-folder trees (``ttt_draws.materialize_split``) with
``keras.utils.image_dataset_from_directory`` (PNG files read and decoded by tf.data every epoch), builds the
same Keras model with the same optimizer (this project's ``build_model`` and ``compile_model``), trains 10
epochs logging each to wandb, saves the model, evaluates on ``val/`` and finishes the run. Its time to
target is the wall time at the end of the first epoch of any trial that reaches the target, counted from
the arm's start (generous: nothing after that epoch is charged; the trial that reaches it stops there to save
benchmark time).

Each trial writes JSON lines of timestamped events: ``start`` (first line of the process), ``imported``,
``wandb`` (run open), ``data`` (datasets made), ``ready`` (model built, before fit), ``epoch`` (end of each
epoch, with val_accuracy), ``trained``, ``end``."""

from __future__ import annotations

import time

_PROCESS_START = time.time()  # before any import: the start-up a fresh process per trial pays

import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402


def run_peer(draws: list[dict[str, Any]], seed: int, target: float, data: Path, split: Path, folder: Path,
             env: dict[str, str], timeout_s: float) -> dict[str, Any]:
    """The ``draws`` as trials, one process each, until an epoch reaches ``target`` (or the draws or
    timeout_s run out); ``split``: the fit/ and valid/ folders, ``data``: the root whose val/ is the test set."""
    folder.mkdir(parents=True, exist_ok=True)
    started = time.time()
    trials, reached = [], None
    for number, config in enumerate(draws):
        if time.time() - started > timeout_s:
            break
        events = folder / f"trial-{number:03d}.jsonl"
        job = {"config": config, "data": str(data), "split": str(split), "events": str(events), "stop_at": target,
               "out": str(folder / f"trial-{number:03d}")}
        launched = time.time()
        done = subprocess.run([sys.executable, __file__, json.dumps(job)], env=env, capture_output=True, text=True,
                              timeout=max(60.0, timeout_s), cwd=folder)
        trial = summarize_trial(number, config, launched, time.time(), read_events(events), done.returncode)
        if done.returncode:
            trial["error"] = done.stderr[-600:]
        trials.append(trial)
        if trial["reached_at"] is not None:
            reached = trial
            break
    ended = time.time()
    return {"arm": "peer", "seed": seed, "target": target, "started_at": started, "wall_s": ended - started,
            "reached": reached is not None,
            "time_to_target_s": (reached["reached_at"] - started) if reached else ended - started,
            "trials_to_target": len(trials) if reached else None,
            "epochs_to_target": sum(t["epochs"] for t in trials) if reached else None,
            "trials": trials, "breakdown": breakdown(trials, started, reached)}


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summarize_trial(number: int, config: dict, launched: float, exited: float, events: list[dict],
                    code: int) -> dict[str, Any]:
    at = {e["event"]: e["t"] for e in events if e["event"] != "epoch"}
    epochs = [e for e in events if e["event"] == "epoch"]
    hit = next((e for e in epochs if e.get("reached")), None)
    ready = at.get("ready", exited)
    trained = at.get("trained", epochs[-1]["t"] if epochs else ready)
    return {"number": number, "config": config, "exit_code": code, "epochs": len(epochs),
            "val_accuracy": [e["val_accuracy"] for e in epochs], "launched_at": launched, "exited_at": exited,
            "process_start_s": at.get("start", launched) - launched,  # interpreter start before the first line
            "startup_s": ready - launched,  # launch -> fit starts: python, imports, wandb, dataset, model
            "startup_parts_s": _startup_parts(launched, at, ready),
            "epoch_s": [e["seconds"] for e in epochs], "train_s": trained - ready,
            "post_s": exited - trained,  # save, test evaluation, wandb finish, interpreter exit
            "reached_at": hit["t"] if hit else None}


def _startup_parts(launched: float, at: dict[str, float], ready: float) -> dict[str, float]:
    """launch -> ready split at the trial's events: interpreter start, imports (Keras, TF, wandb, the model
    code), wandb.init, the directory datasets (file listing), model build and compile."""
    marks = [("interpreter_s", at.get("start")), ("imports_s", at.get("imported")), ("wandb_init_s", at.get("wandb")),
             ("datasets_s", at.get("data")), ("model_s", ready)]
    parts, last = {}, launched
    for name, t in marks:
        if t is not None:
            parts[name], last = round(t - last, 3), t
    return parts


def breakdown(trials: list[dict], started: float, reached: dict | None) -> dict[str, float]:
    """Where the arm's time went, up to the target epoch (the reaching trial's time after it is not counted)."""
    parts = {"startup_s": 0.0, "first_epoch_s": 0.0, "later_epochs_s": 0.0, "post_training_s": 0.0}
    for t in trials:
        parts["startup_s"] += t["startup_s"]
        epochs = t["epoch_s"]
        parts["first_epoch_s"] += sum(epochs[:1])
        parts["later_epochs_s"] += sum(epochs[1:])
        if t is not reached:
            parts["post_training_s"] += t["post_s"]
    end = reached["reached_at"] if reached else (trials[-1]["exited_at"] if trials else started)
    parts["other_s"] = (end - started) - sum(parts.values())
    return {k: round(v, 2) for k, v in parts.items()}


def trial_main(job: dict[str, Any]) -> None:
    """One peer trial (run in its own process)."""
    events = open(job["events"], "w", buffering=1)  # noqa: SIM115 - lives as long as the process

    def event(name: str, **fields: Any) -> None:
        events.write(json.dumps({"event": name, "t": time.time(), **fields}) + "\n")

    events.write(json.dumps({"event": "start", "t": _PROCESS_START}) + "\n")
    import keras
    import tensorflow as tf
    import wandb

    from inat_cnn.models import build_model
    from inat_cnn.training.optim import compile_model
    from inat_cnn.trial_config import parse_trial_config

    event("imported")
    cfg = parse_trial_config(job["config"])
    out = Path(job["out"])
    out.mkdir(parents=True, exist_ok=True)
    run = wandb.init(project="ttt-peer", config=job["config"], mode="offline", dir=str(out),
                     settings=wandb.Settings(silent=True, console="off"))
    event("wandb")
    train, val, test = datasets(Path(job["split"]), Path(job["data"]), cfg.image_size, cfg.batch_size, cfg.seed)
    classes = len(train.class_names)
    event("data")
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(cfg, classes)
    compile_model(model, cfg, learning_rate=cfg.learning_rate, phase_steps=cfg.epochs * len(train),
                  num_classes=classes, jit_compile=False)
    event("ready")

    class Log(keras.callbacks.Callback):
        begun = 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.begun = time.time()

        def on_epoch_end(self, epoch, logs=None):
            value = float(logs["val_accuracy"])
            run.log({**{k: float(v) for k, v in logs.items()}, "epoch": epoch + 1})
            reached = value >= job["stop_at"] - 1e-9
            event("epoch", epoch=epoch + 1, val_accuracy=value, seconds=time.time() - self.begun, reached=reached)
            if reached:  # the arm's clock stops here; the rest of this trial is not charged
                self.model.stop_training = True

    model.fit(train.prefetch(tf.data.AUTOTUNE), validation_data=val.prefetch(tf.data.AUTOTUNE),
              epochs=cfg.epochs, callbacks=[Log()], verbose=0)
    event("trained")
    model.save(out / "model.keras")
    run.summary["test_accuracy"] = model.evaluate(test, verbose=0, return_dict=True)["accuracy"]
    run.finish()
    event("end")


def datasets(split: Path, data: Path, side: int, batch_size: int, seed: int) -> tuple[Any, Any, Any]:
    """The peer's train, validation and test datasets: ours' split as two folder trees (the class list of
    fit/ for all three, so a label means the same class everywhere), the dataset's val/ as the test set."""
    import keras

    kw = dict(image_size=(side, side), batch_size=batch_size, verbose=False)
    train = keras.utils.image_dataset_from_directory(split / "fit", shuffle=True, seed=seed, **kw)
    names = dict(class_names=train.class_names)
    val = keras.utils.image_dataset_from_directory(split / "valid", shuffle=False, **names, **kw)
    test = keras.utils.image_dataset_from_directory(data / "val", shuffle=False, **names, **kw)
    return train, val, test


def decode_rate(split: Path, data: Path, env: dict[str, str], batch_size: int = 32) -> dict[str, float]:
    """Images/s of one pass over the peer's train+val datasets with no training: what decoding costs an epoch."""
    job = {"decode": str(split), "data": str(data), "batch_size": batch_size}
    done = subprocess.run([sys.executable, __file__, json.dumps(job)],
                          env=env, capture_output=True, text=True, check=True, cwd=split)
    return json.loads(done.stdout.strip().splitlines()[-1])


def decode_main(job: dict[str, Any]) -> None:
    sets = datasets(Path(job["decode"]), Path(job["data"]), 32, job["batch_size"], 0)[:2]
    images, started = 0, time.perf_counter()
    for dataset in sets:
        for _, labels in dataset:
            images += len(labels)
    seconds = time.perf_counter() - started
    print(json.dumps({"images": images, "seconds": seconds, "images_per_s": images / seconds}))


if __name__ == "__main__":
    _job = json.loads(sys.argv[1])
    decode_main(_job) if "decode" in _job else trial_main(_job)
