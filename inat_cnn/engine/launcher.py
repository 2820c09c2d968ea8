"""`sweep run`: N local agent processes on one sweep, watched live."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from ..workspace import Workspace


def agent_command(sweep_id: str, data_root: Path, workspace: Workspace, storage_url: str | None,
                  extra: list[str] | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "inat_cnn", "agent", sweep_id, "--data", str(data_root),
           "--workspace", str(workspace.root)]
    if storage_url:
        cmd += ["--storage", storage_url]
    return cmd + list(extra or [])


def agent_commands(sweep_id: str, data_root: Path, workspace: Workspace, storage_url: str | None, agents: int,
                   extra: list[str] | None = None, gpus: list[str] | None = None) -> list[list[str]]:
    """One command per agent; with ``gpus``, agent i is pinned to ``gpus[i % len(gpus)]``."""
    return [agent_command(sweep_id, data_root, workspace, storage_url,
                          list(extra or []) + (["--gpu", gpus[i % len(gpus)]] if gpus else []))
            for i in range(agents)]


def run_agents(sweep_id: str, data_root: Path, workspace: Workspace, *, agents: int, storage_url: str | None,
               extra: list[str] | None = None, on_tick: Callable[[], None] | None = None,
               tick_s: float = 2.0, log_dir: Path | None = None, gpus: list[str] | None = None) -> list[int]:
    """Start ``agents`` agent processes, call ``on_tick`` while they run, return their exit codes.

    Each agent's output goes to ``log_dir/agent-<i>.log``; with ``gpus``, agent i gets
    ``gpus[i % len(gpus)]``. Ctrl-C forwards SIGTERM so every agent re-queues its running trial.
    """
    log_dir = log_dir or workspace.runs / sweep_id / "agents"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if agents > 1:
        # share the cores instead of oversubscribing them
        env.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, (os.cpu_count() or 2) // agents)))
    procs = []
    for i, cmd in enumerate(agent_commands(sweep_id, data_root, workspace, storage_url, agents, extra, gpus)):
        log = open(log_dir / f"agent-{i}.log", "ab")  # noqa: SIM115 - closed below
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log))
    try:
        while any(p.poll() is None for p, _ in procs):
            if on_tick:
                on_tick()
            time.sleep(tick_s)
    except KeyboardInterrupt:
        for p, _ in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p, _ in procs:
            p.wait(timeout=120)
    finally:
        for _, log in procs:
            log.close()
    if on_tick:
        on_tick()
    return [p.returncode for p, _ in procs]
