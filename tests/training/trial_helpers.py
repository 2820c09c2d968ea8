"""Helpers of the training tests: the tiny trial config and reading offline wandb runs back."""

import json
import subprocess
import sys
from pathlib import Path

TINY_SCRATCH = {"model": "scratch", "image_size": 24, "conv_blocks": 2, "filters": 4, "dense_units": 8,
                "batch_size": 8, "epochs": 1, "viz": False}


def read_wandb_run(run_dir) -> dict:
    """State, config and summary of an offline run, read back from its .wandb file without a server."""
    wandb_bin = Path(sys.executable).with_name("wandb")
    out = subprocess.run([str(wandb_bin), "leet", "inspect", "--summary", "--json", str(run_dir)],
                         capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


def read_wandb_history(run_dir) -> list[dict]:
    """The history rows of an offline run (one dict per wandb.log call)."""
    wandb_bin = Path(sys.executable).with_name("wandb")
    out = subprocess.run([str(wandb_bin), "leet", "inspect", "--json", str(run_dir)],
                         capture_output=True, text=True, check=True, timeout=60)
    rows = []
    for line in out.stdout.splitlines():
        record = json.loads(line)
        if record.get("type") == "history":
            rows.append(record["history"]["item"])
    return rows
