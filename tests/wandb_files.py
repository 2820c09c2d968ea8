"""Reading offline wandb runs back without a server (``wandb leet inspect``), for every test folder."""

import json
import subprocess
import sys
from pathlib import Path


def _inspect(run_dir, *flags: str) -> str:
    wandb_bin = Path(sys.executable).with_name("wandb")
    return subprocess.run([str(wandb_bin), "leet", "inspect", *flags, "--json", str(run_dir)],
                          capture_output=True, text=True, check=True, timeout=60).stdout


def read_wandb_run(run_dir) -> dict:
    """State, exit code, config and summary of an offline run, read back from its .wandb file."""
    return json.loads(_inspect(run_dir, "--summary"))


def read_wandb_records(run_dir) -> list[dict]:
    """Every record of the run's .wandb file (history, summary, environment metadata, ...)."""
    return [json.loads(line) for line in _inspect(run_dir).splitlines()]


def read_wandb_history(run_dir) -> list[dict]:
    """The history rows of an offline run (one dict per wandb.log call)."""
    return [r["history"]["item"] for r in read_wandb_records(run_dir) if r.get("type") == "history"]
