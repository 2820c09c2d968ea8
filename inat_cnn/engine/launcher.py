"""`sweep run`: N local agent processes on one sweep, watched live."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ..cpus import usable_cpus
from ..errors import EnvironmentFault
from ..training.stop import StopRequest
from ..workspace import Workspace
from .storage import STORAGE_ENV, STORAGE_FILE_ENV


def agent_command(sweep_id: str, data_root: Path, workspace: Workspace, extra: list[str] | None = None) -> list[str]:
    """An agent's argv. The storage URL is never on it (``ps`` shows argv to everyone): see ``agent_env``."""
    cmd = [sys.executable, "-m", "inat_cnn", "agent", sweep_id, "--data", str(data_root),
           "--workspace", str(workspace.root)]
    return cmd + list(extra or [])


def agent_env(storage_url: str | None, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment an agent on ``storage_url`` needs (None: the workspace's SQLite file)."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if k not in (STORAGE_ENV, STORAGE_FILE_ENV)}
    if storage_url:
        env[STORAGE_ENV] = storage_url
    return env


def agent_commands(sweep_id: str, data_root: Path, workspace: Workspace, agents: int,
                   extra: list[str] | None = None, gpus: list[str] | None = None) -> list[list[str]]:
    """One command per agent; with ``gpus``, agent i is pinned to ``gpus[i % len(gpus)]``."""
    return [agent_command(sweep_id, data_root, workspace,
                          list(extra or []) + (["--gpu", gpus[i % len(gpus)]] if gpus else []))
            for i in range(agents)]


def run_agents(sweep_id: str, data_root: Path, workspace: Workspace, *, agents: int, storage_url: str | None,
               extra: list[str] | None = None, on_tick: Callable[[], None] | None = None,
               tick_s: float = 2.0, log_dir: Path | None = None, gpus: list[str] | None = None) -> list[int]:
    """Start ``agents`` agent processes, call ``on_tick`` while they run, return their exit codes.

    Each agent's output goes to ``log_dir/agent-<i>.log``; with ``gpus``, agent i gets
    ``gpus[i % len(gpus)]``. The agents run in sessions of their own, so a terminal's Ctrl-C (sent to
    the foreground process group) and a scheduler's SIGTERM both reach only this process, which sends
    the first one, once, to every agent and waits for them: each re-queues its running trial exactly
    once. Later signals are only counted (SIGKILL still kills).
    """
    log_dir = log_dir or workspace.runs / sweep_id / "agents"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**agent_env(storage_url), "PYTHONUNBUFFERED": "1"}
    if agents > 1:
        # share the cores instead of oversubscribing them
        env.setdefault("TF_NUM_INTRAOP_THREADS", str(max(1, usable_cpus() // agents)))
    procs = []
    tick = _survive_outages(on_tick)
    for i, cmd in enumerate(agent_commands(sweep_id, data_root, workspace, agents, extra, gpus)):
        log = open(log_dir / f"agent-{i}.log", "ab")  # noqa: SIM115 - closed below
        procs.append((subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True),
                      log))
    stop = StopRequest(insist_kills=False)
    stop.install()
    try:
        _watch([p for p, _ in procs], stop, tick, tick_s)
    finally:
        stop.restore()
        for _, log in procs:
            log.close()
    tick()
    return [p.returncode for p, _ in procs]


def _watch(procs: list[subprocess.Popen], stop: StopRequest, tick: Callable[[], None], tick_s: float) -> None:
    """Refresh every ``tick_s`` until every agent exited; pass a stop on to each agent once."""
    forwarded, next_tick = False, 0.0
    while any(p.poll() is None for p in procs):
        if stop.requested and not forwarded:
            for p in procs:
                if p.poll() is None:
                    p.send_signal(stop.signum)
            forwarded = True
        if time.monotonic() >= next_tick:
            tick()
            next_tick = time.monotonic() + tick_s
        time.sleep(0.1)


def _survive_outages(on_tick: Callable[[], None] | None) -> Callable[[], None]:
    """``on_tick`` that skips a tick when the storage stays unreachable: the agents wait it out on their own."""
    def tick() -> None:
        if on_tick is None:
            return
        try:
            on_tick()
        except EnvironmentFault as fault:
            print(f"status not refreshed: {fault}", file=sys.stderr)

    return tick
