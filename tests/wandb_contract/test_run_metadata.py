"""No credential from the command line reaches what wandb records (metadata args, config) or uploads."""

import sys

import pytest
from wandb_files import read_wandb_records, read_wandb_run

from inat_cnn.redact import redact_argv, redact_text
from inat_cnn.training import wandb_run

PASSWORD = "Pg-s3cret-PW"
KEY = "k" * 40


def test_redact_argv_masks_urls_and_secret_options_and_keeps_the_rest():
    argv = ["agent", "sw-1", "--storage", f"postgresql+psycopg2://user:{PASSWORD}@db:5432/optuna",
            f"--api-key={KEY}", "--token", KEY, f"WANDB_API_KEY={KEY}", "--data", "/data/inat",
            f"--url=https://h/x?user=u&password={PASSWORD}", "http://host:8080/path"]
    out = redact_argv(argv)
    assert PASSWORD not in " ".join(out) and KEY not in " ".join(out)
    assert out[:4] == ["agent", "sw-1", "--storage", "postgresql+psycopg2://user:***@db:5432/optuna"]
    assert out[4:8] == ["--api-key=***", "--token", "***", "WANDB_API_KEY=***"]
    assert out[8:] == ["--data", "/data/inat", "--url=https://h/x?user=u&password=***", "http://host:8080/path"]
    assert redact_text("sqlite:////tmp/sweeps.db") == "sqlite:////tmp/sweeps.db"


@pytest.mark.slow
@pytest.mark.parametrize("argv", [
    ["inat-cnn", "agent", "sw-1", "--storage", f"postgresql://user:{PASSWORD}@db/optuna"],
    ["inat-cnn", "sweep", "run", "s.yaml", f"--storage=postgresql://user:{PASSWORD}@db/optuna", "--api_key", KEY],
])
def test_a_secret_on_argv_is_not_in_the_wandb_run(tmp_path, monkeypatch, argv):
    monkeypatch.setattr(sys, "argv", list(argv))
    run = wandb_run.open_run(config={"weights": f"https://u:{PASSWORD}@h/w.h5", "epochs": 1},
                             wandb_dir=tmp_path / "wandb", project="p", group=None, name="n", mode="offline")
    run.log({"epoch": 1, "loss": 1.0})
    wandb_run.finish(run, {"fail_reason": f"cannot open postgresql://user:{PASSWORD}@db/optuna"}, exit_code=0)
    assert sys.argv == argv  # put back after the run started
    run_dir = wandb_run.run_dir(run)
    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert not leaked and not [p for p in tmp_path.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    [environment] = [r["environment"] for r in read_wandb_records(run_dir)
                     if r.get("type") == "environment" and "args" in r["environment"]]
    assert environment["args"][:3] == argv[1:4]
    assert "postgresql://user:***@db/optuna" in " ".join(environment["args"])
    recorded = read_wandb_run(run_dir)
    assert recorded["config"]["weights"] == "https://u:***@h/w.h5" and recorded["config"]["epochs"] == 1
