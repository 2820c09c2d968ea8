"""The README's main job, exactly as a user runs it: `inat-cnn demo` in a fresh folder."""

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest


@pytest.mark.slow
def test_demo_runs_the_smoke_sweep_reports_and_exports(tmp_path):
    env = {**os.environ, "INAT_CNN_HOME": "", "WANDB_MODE": "offline", "INAT_CNN_WARM_TRIAL": "1"}  # as users run it
    env.pop("INAT_CNN_HOME")
    cli = Path(sys.executable).parent / "inat-cnn"
    proc = subprocess.run([str(cli), "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    ws = tmp_path / "inat_runs"
    [summary] = optuna.get_all_study_summaries(f"sqlite:///{ws / 'sweeps.db'}")
    trials = optuna.load_study(study_name=summary.study_name, storage=f"sqlite:///{ws / 'sweeps.db'}").trials
    assert len(trials) == 4 and all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    export = ws / "exports" / summary.study_name
    metrics = json.loads((export / "metrics.json").read_text())
    assert (export / "model.keras").is_file() and (export / "MODEL_CARD.md").is_file()
    assert metrics["val_accuracy"] == max(t.value for t in trials)
    assert (ws / "reports" / f"{summary.study_name}.html").stat().st_size > 100_000  # plotly.js is inlined
    assert len(list((ws / "wandb" / "wandb").glob("offline-run-*"))) == 4
    assert str(export) in proc.stdout
