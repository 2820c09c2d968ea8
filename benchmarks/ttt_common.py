"""What both arms of the time-to-target benchmark share: the dataset, the space, sweep-file variants, the source
the trials import, the environment, W&B-style random sampling and atomic JSON."""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SPACE_FILE = HERE / "ttt_space.yaml"
RUN_DIR = tempfile.gettempdir()  # the folder every subprocess starts in: `python -m` puts it first on sys.path
DIGITS = {"side": 32, "per_class": 140, "test_per_class": 34}  # 1,400 train/ (140 of them val), 340 val/ (test)


def make_digits(root: Path) -> Path:
    """scikit-learn's digits as 32 px PNG class folders, written once (a marker says it is complete)."""
    root = Path(root)
    marker = root / ".complete"
    if not marker.is_file():
        sys.path.insert(0, str(REPO / "tests"))
        from digits_data import write_digits

        write_digits(root, **DIGITS)
        marker.write_text(json.dumps(DIGITS))
    return root


def load_space(path: Path = SPACE_FILE) -> dict[str, Any]:
    return yaml.safe_load(Path(path).read_text())


def write_sweep(path: Path, spec: dict[str, Any]) -> Path:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(spec, sort_keys=False))
    return Path(path)


def with_epochs(spec: dict[str, Any], epochs: int | None) -> dict[str, Any]:
    """The spec with another epoch count (--quick), hyperband's min_iter kept below it."""
    spec = json.loads(json.dumps(spec))
    if epochs:
        spec["parameters"]["epochs"] = {"value": epochs}
        et = spec.get("early_terminate")
        if et and et.get("min_iter", 1) >= epochs:
            et["min_iter"] = 1
    return spec


def base_rate_spec(spec: dict[str, Any], trials: int) -> dict[str, Any]:
    """Random configurations trained to the end, no figures: the curves the target and the replays come from."""
    spec = json.loads(json.dumps(spec))
    spec.update(name=f"{spec['name']}-base", method="random", run_cap=trials)
    spec.pop("early_terminate", None)
    spec["metric"].pop("target", None)
    spec["parameters"]["viz"] = {"value": False}
    return spec


def sample_random(parameters: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """One configuration the way W&B's random search draws it: each parameter independently."""
    out = {}
    for name, p in parameters.items():
        if "value" in p:
            out[name] = p["value"]
        elif "values" in p:
            out[name] = rng.choice(p["values"])
        elif p.get("distribution") == "log_uniform_values":
            out[name] = math.exp(rng.uniform(math.log(p["min"]), math.log(p["max"])))
        elif p.get("distribution") in (None, "uniform", "int_uniform"):
            is_int = isinstance(p["min"], int) and isinstance(p["max"], int)
            out[name] = rng.randint(p["min"], p["max"]) if is_int else rng.uniform(p["min"], p["max"])
        else:
            raise ValueError(f"parameter {name}: distribution {p.get('distribution')} is not sampled here")
    return out


def snapshot(rev: str | None) -> tuple[Path | None, str]:
    """Export ``inat_cnn/`` at ``rev`` to a folder the trials import (other people edit the working tree while a
    long run goes on); None: the working tree as installed. Returns (folder, the commit or 'working tree')."""
    if not rev:
        return None, "working tree " + _git("rev-parse", "--short", "HEAD")
    sha = _git("rev-parse", rev)
    folder = Path(tempfile.gettempdir()) / "ttt_src" / sha[:12]
    if not (folder / "inat_cnn" / "__init__.py").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", sha, "inat_cnn"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder, sha[:12]


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], check=True, capture_output=True, text=True).stdout.strip()


def quiet_env(source: Path | None) -> dict[str, str]:
    """Offline wandb, quiet TensorFlow, CPU TensorFlow; ``source`` first on the import path."""
    env = {**os.environ, "INAT_CNN_QUIET": "1", "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    env.pop("WANDB_API_KEY", None)
    if source is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(source), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def cli() -> list[str]:
    """The project's CLI from the imported source (``python -m inat_cnn`` = the ``inat-cnn`` script); run it (and
    anything it starts the same way) outside the repository, or the working tree shadows the snapshot."""
    return [sys.executable, "-m", "inat_cnn"]


def write_json(path: Path, data: Any) -> None:
    """Atomically (a run cut off mid-write leaves the previous file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def read_json(path: Path, default: Any = None) -> Any:
    path = Path(path)
    return json.loads(path.read_text()) if path.is_file() else default


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]
