"""The local engine on a real PostgreSQL server: the documented URL works, no password leaks, outages are waited out."""

import logging
import os
import re
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import optuna
import pytest
import sqlalchemy
import yaml
from optuna.trial import TrialState

from inat_cnn.engine.storage import open_storage
from inat_cnn.errors import EnvironmentFault

ROOT = Path(__file__).resolve().parents[2]
TINY = {"model": {"value": "scratch"}, "image_size": {"value": 16}, "conv_blocks": {"value": 2},
        "filters": {"value": 4}, "dense_units": {"value": 8}, "epochs": {"value": 1}, "viz": {"value": False},
        "batch_size": {"value": 16}}  # one grid point, seconds to train


def _sweep_file(tmp_path, **params) -> Path:
    spec = {"name": "pg", "method": "grid", "metric": {"name": "val_accuracy", "goal": "maximize"},
            "parameters": {**TINY, **params}}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _cli(*args, env=None, timeout=300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "inat_cnn", *map(str, args)], env=env or dict(os.environ),
                          capture_output=True, text=True, timeout=timeout)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        out.extend(kids := children.get(todo.pop(), []))
        todo.extend(kids)
    return out


def _argv_of_tree(pid: int) -> set[str]:
    """The command lines of ``pid`` and its descendants, now."""
    seen = set()
    for each in [pid, *_descendants(pid)]:
        try:
            seen.add(Path(f"/proc/{each}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        except OSError:
            pass
    return seen


def _files_holding(root: Path, secret: str, skip: tuple[Path, ...] = ()) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink() and path not in skip and secret.encode() in path.read_bytes():
            hits.append(str(path.relative_to(root)))
    return hits


def _trials(url, sweep):
    return optuna.load_study(study_name=sweep, storage=open_storage(url)).get_trials(deepcopy=False)


def test_postgres_extra_installs_the_driver_the_documented_url_uses(postgres, pg_db):
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in ("postgres", "dev"):
        assert any(req.replace(" ", "").startswith("psycopg[binary]") for req in extras[extra]), extras[extra]
    engine = sqlalchemy.create_engine(postgres.url(pg_db))  # plain postgresql://, as the README writes it
    assert engine.dialect.driver == "psycopg"
    with engine.connect() as conn:
        assert conn.execute(sqlalchemy.text("select current_user")).scalar() == "inat"
    engine.dispose()


@pytest.mark.slow  # one CLI process: the warning is what a user sees on stderr
def test_a_password_on_argv_warns_and_never_shows_in_messages(tmp_path, postgres, pg_db, run_cli):
    sweep_file = _sweep_file(tmp_path)
    created = _cli("sweep", "create", sweep_file, "--storage", postgres.url(pg_db))
    assert created.returncode == 0, created.stderr
    assert "`ps`" in created.stderr and postgres.password not in created.stdout + created.stderr
    sweep_id = created.stdout.strip()
    wrong_password = postgres.url(pg_db).replace(postgres.password, "bad")
    closed = postgres.url(pg_db).replace(f":{postgres.port}/", ":1/")
    missing = run_cli("sweep", "status", "nope-000000", "--storage", postgres.url(pg_db))
    wrong = run_cli("sweep", "status", "nope-000000", "--storage", wrong_password)
    down = run_cli("report", sweep_id, "--storage", closed, "--out", tmp_path / "r.html")
    assert missing[0] == 2 and sweep_id in missing[2]  # lists the sweep that exists
    assert wrong[0] == 2 and "password authentication failed" in wrong[2]
    assert down[0] == 2 and "cannot open sweep storage" in down[2], down[2]
    for _, out, err in (missing, wrong, down):
        assert "Traceback" not in err and postgres.password not in out + err


@pytest.mark.slow
def test_sweep_run_keeps_the_password_secret_and_waits_out_a_server_restart(tmp_path, postgres, pg_db, tiny_data):
    """The password in $INAT_CNN_STORAGE reaches no argv, log or file; a 2 s restart mid-trial loses nothing."""
    ws, url = tmp_path / "ws", postgres.url(pg_db)
    watcher = open_storage(url)  # the test's own view of the sweep (tables made before the launcher starts)
    env = {**os.environ, "INAT_CNN_STORAGE": url}
    run = subprocess.Popen([sys.executable, "-m", "inat_cnn", "sweep", "run",
                            str(_sweep_file(tmp_path, epochs={"value": 15})), "--data", str(tiny_data),
                            "--workspace", str(ws)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    argv, restarted, end = set(), False, time.time() + 400
    while run.poll() is None and time.time() < end:
        argv |= _argv_of_tree(run.pid)
        if not restarted and _mid_trial(watcher):
            postgres.restart(down_s=2.0)  # every connection of the launcher and the agent is cut mid-trial
            restarted = True
        time.sleep(0.2)
    out = run.communicate(timeout=60)[0]
    assert run.returncode == 0 and restarted, out[-3000:]
    assert any(" agent " in a for a in argv), argv  # we did watch the agent the launcher started
    assert not [a for a in argv if postgres.password in a or "--storage" in a], argv
    (trial,) = _trials(url, _only_sweep(url))
    assert trial.state == TrialState.COMPLETE and len(trial.intermediate_values) == 15
    agent_log = "".join(p.read_text() for p in (ws / "runs").glob("*/agents/agent-*.log"))
    assert "unreachable" in agent_log and "reachable again" in agent_log, agent_log[-3000:]  # the outage was hit
    assert not re.search(r"trial \d+ failed", agent_log) and "Traceback" not in agent_log + out

    sweep_id = _only_sweep(url)
    report = _cli("report", sweep_id, "--workspace", ws, "--out", ws / "reports" / "report.html", env=env)
    export = _cli("export", "best", sweep_id, "--workspace", ws, "--out", ws / "exports" / "best", env=env)
    assert report.returncode == 0 and export.returncode == 0, report.stderr + export.stderr
    assert (ws / "exports" / "best" / "model.keras").is_file() and (ws / "reports" / "report.html").is_file()
    assert list(tmp_path.rglob("*.wandb")) and list(tmp_path.rglob("metrics.json"))  # what we grep exists
    for text in (out, report.stdout, report.stderr, export.stdout, export.stderr):
        assert postgres.password not in text
    assert _files_holding(tmp_path, postgres.password) == []


def _mid_trial(storage) -> bool:
    names = optuna.study.get_all_study_names(storage=storage)
    return bool(names) and any(t.state == TrialState.RUNNING and t.intermediate_values
                               for t in optuna.load_study(study_name=names[0], storage=storage).get_trials())


def _only_sweep(url: str) -> str:
    (name,) = optuna.study.get_all_study_names(storage=url)
    return name


@pytest.mark.slow
def test_pgpass_supplies_the_password_of_a_url_given_in_a_file(tmp_path, postgres, pg_db, tiny_data):
    ws = tmp_path / "ws"
    pgpass, url_file = tmp_path / "pgpass", tmp_path / "storage.url"
    pgpass.write_text(postgres.pgpass_line(pg_db))
    pgpass.chmod(0o600)  # libpq ignores a password file others can read
    url = postgres.url(pg_db, password=False)
    url_file.write_text(f"# the sweep database, no password (PGPASSFILE has it)\n{url}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("INAT_CNN_STORAGE")}
    env["PGPASSFILE"] = str(pgpass)
    created = _cli("sweep", "create", _sweep_file(tmp_path), "--storage-file", url_file, env=env)
    assert created.returncode == 0, created.stderr
    assert "`ps`" not in created.stderr  # nothing secret was on the command line
    sweep_id = created.stdout.strip()
    agent = _cli("agent", sweep_id, "--data", tiny_data, "--workspace", ws,
                 env={**env, "INAT_CNN_STORAGE_FILE": str(url_file)})
    assert agent.returncode == 0 and "1 finished" in agent.stdout, agent.stdout[-2000:] + agent.stderr[-2000:]
    status = _cli("sweep", "status", sweep_id, "--storage", url, env=env)
    assert status.returncode == 0 and "finished" in status.stdout, status.stderr
    for done in (created, agent, status):
        assert postgres.password not in done.stdout + done.stderr
    assert _files_holding(tmp_path, postgres.password, skip=(pgpass,)) == []
    no_pass = _cli("sweep", "status", sweep_id, "--storage-file", url_file,
                   env={**env, "PGPASSFILE": str(tmp_path / "none")})
    assert no_pass.returncode == 2 and "no password supplied" in no_pass.stderr  # the file was what supplied it


def test_pings_replace_connections_the_server_dropped(postgres, pg_db, caplog):
    storage = open_storage(postgres.url(pg_db), retry_s=30)
    optuna.create_study(study_name="s", storage=storage)
    postgres.restart(down_s=0)  # the pooled connection is now dead
    with caplog.at_level(logging.WARNING, logger="inat_cnn.engine.storage"):
        assert [s.study_name for s in storage.get_all_studies()] == ["s"]
    assert "unreachable" not in caplog.text  # the pool's ping replaced it before use: no error, no retry


def test_an_outage_longer_than_the_retry_budget_is_an_environment_fault(postgres, pg_db):
    storage = open_storage(postgres.url(pg_db), retry_s=2)
    postgres.stop()
    try:
        started = time.monotonic()
        with pytest.raises(EnvironmentFault) as fault:
            storage.get_all_studies()
        assert 2 <= time.monotonic() - started < 20
        assert storage.record_heartbeat(1) is None  # the heartbeat thread logs and beats again later: never dies
    finally:
        postgres.start()
    assert fault.value.what == "storage" and "unreachable for 2 s" in str(fault.value)
    assert postgres.password not in str(fault.value) and f":{postgres.port}/" in str(fault.value)
    assert storage.get_all_studies() == []  # and it works again once the server is back


def _first_trial_state(study: optuna.Study) -> TrialState:
    """The state of trial 0 after the heartbeat check any agent runs (a stale trial is failed, then re-queued)."""
    optuna.storages.fail_stale_trials(study)
    return study.get_trials(deepcopy=False)[0].state


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")  # fail_stale_trials
def test_after_an_outage_no_trial_is_judged_stale_until_its_agent_could_beat_again(postgres, pg_db):
    url = postgres.url(pg_db)
    ours = open_storage(url, heartbeat_s=1, grace_s=2, retry_s=60)
    study = optuna.create_study(study_name="s", storage=ours)
    number = study.ask().number
    trial_id = ours.get_trial_id_from_study_id_trial_number(ours.get_study_id_from_name("s"), number)
    ours.record_heartbeat(trial_id)  # the last beat another agent sent before the server went away
    postgres.stop()
    waiting = threading.Thread(target=ours.get_all_studies)  # this agent meets the outage and waits it out
    waiting.start()
    time.sleep(3.5)  # an outage longer than the grace period: by the clock alone the trial is stale
    postgres.start()
    waiting.join(timeout=60)
    back = time.monotonic()
    assert _first_trial_state(study) == TrialState.RUNNING  # the agent could not beat either: give it a grace period
    while _first_trial_state(study) == TrialState.RUNNING and time.monotonic() - back < 30:
        time.sleep(0.2)
    assert _first_trial_state(study) == TrialState.FAIL
    assert time.monotonic() - back >= 2  # not before a grace period after the storage came back
