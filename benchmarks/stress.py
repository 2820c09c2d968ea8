"""Stress harness: N agents on a grid, killed (SIGKILL) and preempted (SIGTERM) at random, restarted;
or (``--restart-db``) the PostgreSQL server restarted at random moments under them.

Training is replaced by the engine's test hook ``INAT_CNN_FAKE_TRIAL_S`` (each trial sleeps, then
reports a value derived from its parameters), so only the bookkeeping is under test: claims,
heartbeats, stale trials, re-queues, grid coverage. Per run it reports, from the storage itself:

- finished: grid points with a COMPLETE trial (target: all of them);
- duplicates: grid points with more than one COMPLETE trial (target 0);
- lost: grid points with no COMPLETE trial and nothing waiting or running (target 0);
- stale: trials left RUNNING or WAITING once every agent has exited (target 0);
- retrained: points whose fake training ran to its end more than once (an agent killed between the
  end of its trial and the storage write; informative, not a bookkeeping error).

    .venv/bin/python benchmarks/stress.py --backend sqlite --runs 5 --out stress-sqlite.json
    .venv/bin/python benchmarks/stress.py --backend postgresql --runs 5   # starts a local server
    .venv/bin/python benchmarks/stress.py --backend postgresql --storage-file URL_FILE --runs 5
    INAT_CNN_STORAGE=postgresql://USER@HOST/DB .venv/bin/python benchmarks/stress.py --backend postgresql
    # the server restarted (down 0.5-3 s) at random moments, no agent hit: 24 points, 4 agents, 5 runs
    .venv/bin/python benchmarks/stress.py --backend postgresql --restart-db --points 24 --agents 4 --runs 5
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import yaml
from optuna.trial import TrialState

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def grid_yaml(points: int) -> dict:
    """A grid of exactly ``points`` points over two scratch parameters (dropout × dense_units)."""
    rows = next(r for r in (6, 4, 3, 2, 1) if points % r == 0)
    return {"name": "stress", "method": "grid", "metric": {"name": "val_accuracy", "goal": "maximize"},
            "parameters": {"model": {"value": "scratch"}, "image_size": {"value": 16},
                           "dropout": {"values": [round(0.05 * i, 2) for i in range(rows)]},
                           "dense_units": {"values": list(range(4, 4 + points // rows))}}}


class Agents:
    """Agent processes in slots; a slot whose agent we killed gets a fresh agent."""

    def __init__(self, sweep: str, data: Path, ws: Path, env: dict, logs: Path, heartbeat: int, grace: int):
        self.cmd = [sys.executable, "-m", "inat_cnn", "agent", sweep, "--data", str(data), "--workspace", str(ws),
                    "--heartbeat", str(heartbeat), "--grace", str(grace)]
        self.env, self.logs, self.started = env, logs, 0
        self.procs: list[subprocess.Popen] = []
        self.exits: list[tuple[str, int]] = []

    def start(self) -> subprocess.Popen:
        log = open(self.logs / f"agent-{self.started:03d}.log", "wb")  # noqa: SIM115 - owned by the process
        self.started += 1
        proc = subprocess.Popen(self.cmd, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(proc)
        return proc

    def alive(self) -> list[subprocess.Popen]:
        return [p for p in self.procs if p.poll() is None]

    def hit(self, proc: subprocess.Popen, sig: int) -> None:
        """Send ``sig``, reap the process (a zombie still looks alive), start a replacement."""
        proc.send_signal(sig)
        code = proc.wait(timeout=120)
        self.exits.append((signal.Signals(sig).name, code))
        self.procs.remove(proc)
        self.start()


def training_pids(storage: str, sweep: str) -> set[int]:
    """PIDs of the agents that hold a RUNNING trial (each trial records its agent); none while the server is down."""
    try:
        trials = optuna.load_study(study_name=sweep, storage=storage).get_trials(deepcopy=False,
                                                                                states=(TrialState.RUNNING,))
    except Exception:  # noqa: BLE001 - the server is being restarted (--restart-db)
        return set()
    return {int((t.user_attrs.get("agent") or {}).get("pid", 0)) for t in trials}


def restart_db(server, args: argparse.Namespace, rng: random.Random, agents: Agents, started: float) -> list:
    """Restart the server ``args.restarts`` times at random moments while agents run; the downtimes."""
    downs = []
    while len(downs) < args.restarts and agents.alive() and time.monotonic() - started < args.timeout:
        time.sleep(rng.uniform(0.2, 2 * args.trial_s))
        down = round(rng.uniform(0.5, 3.0), 2)
        server.restart(down_s=down)  # every connection of every agent is cut
        downs.append(down)
    return downs


def count(storage: str, sweep: str, ws: Path, points: int) -> dict:
    study = optuna.load_study(study_name=sweep, storage=storage)
    trials = [t for t in study.get_trials(deepcopy=False) if not t.user_attrs.get("discarded")]
    complete = collections.Counter(t.system_attrs["grid_id"] for t in trials if t.state == TrialState.COMPLETE)
    pending = {t.system_attrs.get("grid_id") for t in trials if t.state in (TrialState.WAITING, TrialState.RUNNING)}
    trained = collections.Counter()
    for t in trials:
        if Path(t.user_attrs.get("trial_dir", "/nonexistent"), "fake_trial.json").is_file():
            trained[t.system_attrs["grid_id"]] += 1
    return {"finished": len(complete), "points": points, "duplicates": sum(n > 1 for n in complete.values()),
            "lost": sum(1 for g in range(points) if g not in complete and g not in pending),
            "stale": sum(t.state in (TrialState.RUNNING, TrialState.WAITING) for t in trials),
            "retrained": sum(n > 1 for n in trained.values()), "trials": len(trials)}


def one_run(i: int, args: argparse.Namespace, storage: str | None, data: Path, base: Path, server=None) -> dict:
    rng = random.Random(args.seed + i)
    ws = base / f"run-{i}"
    (ws / "logs").mkdir(parents=True)
    spec = ws / "stress.yaml"
    spec.write_text(yaml.safe_dump(grid_yaml(args.points)))
    env = {**os.environ, "INAT_CNN_FAKE_TRIAL_S": str(args.trial_s), "PYTHONUNBUFFERED": "1", "INAT_CNN_QUIET": "1"}
    if storage:
        env["INAT_CNN_STORAGE"] = storage  # never on argv
    created = subprocess.run([sys.executable, "-m", "inat_cnn", "sweep", "create", str(spec), "--data", str(data),
                              "--workspace", str(ws)], env=env, capture_output=True, text=True, check=True)
    sweep = created.stdout.strip().splitlines()[-1]
    url = storage or f"sqlite:///{ws}/sweeps.db"
    agents = Agents(sweep, data, ws, env, ws / "logs", args.heartbeat, args.grace)
    started = time.monotonic()
    for _ in range(args.agents):
        agents.start()
    hits = 0
    while not training_pids(url, sweep) and time.monotonic() - started < args.timeout:
        time.sleep(0.5)  # agents start slowly on a loaded machine: hit them once they train
    downs = restart_db(server, args, rng, agents, started) if args.restart_db else []
    while not args.restart_db and hits < args.hits and agents.alive() and time.monotonic() - started < args.timeout:
        time.sleep(rng.uniform(0.2, args.trial_s))
        live, busy = agents.alive(), training_pids(url, sweep)
        training = [p for p in live if p.pid in busy]
        if live:  # mostly an agent in the middle of a trial, sometimes one starting up or waiting
            target = rng.choice(training if training and rng.random() < 0.75 else live)
            agents.hit(target, rng.choice((signal.SIGKILL, signal.SIGTERM)))
            hits += 1
    while agents.alive() and time.monotonic() - started < args.timeout:
        time.sleep(0.5)
    for proc in agents.alive():  # past the timeout: counted as stale below
        proc.kill()
        proc.wait()
    codes = [p.returncode for p in agents.procs]
    tracebacks = sum("Traceback" in p.read_text(errors="replace") for p in (ws / "logs").iterdir())
    result = count(url, sweep, ws, args.points)
    result.update(run=i, seconds=round(time.monotonic() - started, 1), hits=hits, agents_started=agents.started,
                  db_restarts=len(downs), db_down_s=downs,
                  sigkill=sum(s == "SIGKILL" for s, _ in agents.exits),
                  sigterm_exit0=sum(s == "SIGTERM" and c == 0 for s, c in agents.exits),
                  sigterm=sum(s == "SIGTERM" for s, _ in agents.exits), exits=agents.exits,
                  final_exit_codes=collections.Counter(codes), tracebacks=tracebacks)
    return result


def local_postgres(base: Path):
    """Start a throw-away PostgreSQL server (the test suite's helper) and return (server, database URL)."""
    sys.path.insert(0, str(ROOT / "tests"))  # pg_server imports its sibling os_packages
    spec = importlib.util.spec_from_file_location("pg_server", ROOT / "tests" / "pg_server.py")
    pg = sys.modules["pg_server"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pg)
    root = Path(tempfile.mkdtemp(prefix="inat-stress-pg-"))
    server = pg.PgServer(pg.find_bin_dir(), root, pg._free_port(), password="pw-" + secrets.token_hex(12))
    server.init()
    server.start()
    server.admin(f"CREATE USER \"{pg.USER}\" WITH PASSWORD '{server.password}'")
    return server, server.url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--storage", default=os.environ.get("INAT_CNN_STORAGE"),
                    help="PostgreSQL URL without a password (libpq reads it from ~/.pgpass), or $INAT_CNN_STORAGE")
    ap.add_argument("--storage-file", help="file holding a PostgreSQL URL (default: start a local server)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--points", type=int, default=48)
    ap.add_argument("--hits", type=int, default=12, help="random SIGKILL/SIGTERM per run")
    ap.add_argument("--restart-db", action="store_true", help="restart the local PostgreSQL server at random "
                    "moments instead of hitting agents (needs --backend postgresql without --storage)")
    ap.add_argument("--restarts", type=int, default=4, help="server restarts per run (--restart-db)")
    ap.add_argument("--trial-s", type=float, default=2.0, help="seconds each fake trial sleeps")
    ap.add_argument("--heartbeat", type=int, default=1)
    ap.add_argument("--grace", type=int, default=6)
    ap.add_argument("--timeout", type=float, default=600, help="seconds per run before agents are killed")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    from inat_cnn.data import synthesize

    base = Path(tempfile.mkdtemp(prefix="inat-stress-"))
    data = synthesize(base / "data", classes=2, per_class=6, test_per_class=2, seed=1, min_side=24, max_side=32)
    server, make_url = None, None
    if args.backend == "postgresql":
        if args.storage or args.storage_file:  # one database for every run (each run is its own sweep)
            url = args.storage or Path(args.storage_file).read_text().strip()
            make_url = lambda i: url  # noqa: E731
        else:
            server, url_of = local_postgres(base)
            make_url = lambda i: url_of(server.create_database())  # noqa: E731 - a database per run
    if args.restart_db and server is None:
        ap.error("--restart-db restarts the server it starts: use --backend postgresql without --storage")
    results = []
    try:
        for i in range(args.runs):
            r = one_run(i, args, make_url(i) if make_url else None, data, base, server)
            results.append(r)
            print(json.dumps(r, default=dict), flush=True)
    finally:
        if server is not None:
            server.stop()
    ok = all(r["finished"] == r["points"] and not (r["duplicates"] or r["lost"] or r["stale"]) for r in results)
    summary = {"backend": args.backend, "runs": len(results), "all_on_target": ok,
               "args": {k: str(v) for k, v in vars(args).items() if k not in ("storage", "storage_file")},
               "results": results}
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2, default=dict))
    print(f"{args.backend}: {sum(r['finished'] == r['points'] for r in results)}/{len(results)} runs finished "
          f"every point; duplicates {sum(r['duplicates'] for r in results)}, lost {sum(r['lost'] for r in results)}, "
          f"stale {sum(r['stale'] for r in results)}, retrained {sum(r['retrained'] for r in results)}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
