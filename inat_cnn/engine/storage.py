"""The local engine's Optuna storage: one study per sweep, with heartbeats, retries and no secret in sight.

A sweep is an Optuna study named by the sweep id. The validated W&B spec lives in
the study's user_attrs, so every agent (on any host sharing the storage URL)
rebuilds the same sampler and pruner from it.

Where the URL comes from (``resolve_storage``, used by every command that takes
``--storage``): ``--storage URL``, ``--storage-file PATH``, ``$INAT_CNN_STORAGE``,
``$INAT_CNN_STORAGE_FILE``, else the workspace's SQLite file. A URL without a
password lets libpq take it from ``PGPASSFILE`` / ``~/.pgpass``.

How outages are waited out: ``open_storage`` returns a ``ResilientStorage``, an
Optuna ``RDBStorage`` whose pool pings connections before use and whose every
call retries transient database errors with jittered exponential backoff for up to
``retry_s`` seconds (logged once per outage), then raises
``EnvironmentFault(what="storage")``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import functools
import logging
import os
import secrets
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import optuna
import sqlalchemy.exc
import tenacity
from optuna.storages import RDBStorage
from sqlalchemy.engine import make_url

from ..errors import EnvironmentFault, UserError
from ..outcome import sweep_objective
from ..redact import redact_url
from ..spec import ValidatedSweep, validate_sweep_dict
from ..workspace import Workspace
from .recovery import on_stale_trial
from .space import direction, require_local_support

optuna.logging.set_verbosity(logging.ERROR)
_log = logging.getLogger(__name__)

HEARTBEAT_S = 10
GRACE_S = 30
RETRY_S = 300.0  # how long an outage is waited out before the agent stops (INAT_CNN_STORAGE_RETRY_S)
STORAGE_ENV = "INAT_CNN_STORAGE"
STORAGE_FILE_ENV = "INAT_CNN_STORAGE_FILE"
RETRY_ENV = "INAT_CNN_STORAGE_RETRY_S"

# Operational errors that no amount of waiting fixes: report them at once.
_PERMANENT = ("authentication failed", "no password supplied", "does not exist", "permission denied",
              "readonly database", "read-only", "malformed", "disk is full", "not a database", "no such table")


# --- where the URL comes from, and how it is printed -------------------------------------------------

def resolve_storage(storage: str | None = None, storage_file: str | os.PathLike[str] | None = None) -> str | None:
    """The storage URL a command uses, or None for the workspace's SQLite file.

    Order: ``--storage``, ``--storage-file``, ``$INAT_CNN_STORAGE``, ``$INAT_CNN_STORAGE_FILE``. A password
    given with ``--storage`` works but is warned about: every user of the machine reads argv in ``ps``.
    """
    if storage and storage_file:
        raise UserError("give the storage as --storage URL or --storage-file PATH, not both")
    if storage:
        url = _checked_url(storage.strip(), "--storage")
        if make_url(url).password:
            _log.warning("warning: the --storage URL carries a password, which every user of this machine can "
                         "read in `ps` (and your shell keeps in its history): pass it in $%s or a file "
                         "(--storage-file PATH, $%s), or leave it out of the URL and let ~/.pgpass "
                         "(PGPASSFILE) supply it", STORAGE_ENV, STORAGE_FILE_ENV)
        return url
    if storage_file:
        return _read_storage_file(Path(storage_file), "--storage-file")
    if os.environ.get(STORAGE_ENV, "").strip():
        return _checked_url(os.environ[STORAGE_ENV].strip(), f"${STORAGE_ENV}")
    if os.environ.get(STORAGE_FILE_ENV, "").strip():
        return _read_storage_file(Path(os.environ[STORAGE_FILE_ENV].strip()), f"${STORAGE_FILE_ENV}")
    return None


def storage_url(storage: str | None, workspace: Workspace) -> str:
    """The URL to open: a resolved one, else the workspace's sweeps.db."""
    return storage or workspace.db_url


def _read_storage_file(path: Path, origin: str) -> str:
    """The first line of ``path`` that is neither blank nor a ``#`` comment."""
    try:
        lines = path.expanduser().read_text().splitlines()
    except OSError as err:
        raise UserError(f"{origin} {path}: cannot read the storage URL ({err.strerror or err})") from None
    url = next((ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), "")
    if not url:
        raise UserError(f"{origin} {path}: the file holds no storage URL (one line such as "
                        "postgresql://USER:PASSWORD@HOST/DB)")
    return _checked_url(url, f"{origin} {path}")


def _checked_url(url: str, origin: str) -> str:
    try:
        make_url(url)
    except sqlalchemy.exc.ArgumentError:
        raise UserError(f"{origin}: not a database URL (expected e.g. sqlite:///PATH or "
                        "postgresql://USER@HOST:PORT/DB; not shown here, as it may hold a password)") from None
    return url


def scrub(text: str, url: str) -> str:
    """``text`` without the URL's password (as written and percent-decoded)."""
    try:
        password = make_url(url).password
    except sqlalchemy.exc.ArgumentError:
        password = None
    for secret in {str(password), quote_plus(str(password))} if password else ():
        text = text.replace(secret, "***")
    return text


def _root_cause(err: BaseException) -> BaseException:
    """The driver's own error under Optuna's and SQLAlchemy's wrappers."""
    while isinstance(err, optuna.exceptions.StorageInternalError) and err.__cause__ is not None:
        err = err.__cause__
    return getattr(err, "orig", None) or err


def describe(err: BaseException, url: str) -> str:
    """One line naming what the database driver said, without the password."""
    cause = _root_cause(err)
    text = " ".join(str(cause).split()) or type(cause).__name__
    return scrub(f"{type(cause).__name__}: {text}", url)


def is_transient(err: BaseException) -> bool:
    """A connection lost or refused (server restarting, network blip, SQLite busy): worth waiting for."""
    while isinstance(err, optuna.exceptions.StorageInternalError) and err.__cause__ is not None:
        err = err.__cause__
    if isinstance(err, sqlalchemy.exc.DBAPIError) and err.connection_invalidated:
        return True
    if not isinstance(err, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError)):
        return False
    text = str(getattr(err, "orig", err)).lower()
    return not any(p in text for p in _PERMANENT)


# --- opening a storage that waits out outages --------------------------------------------------------

def _engine_kwargs(url: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"pool_pre_ping": True}  # a connection the server dropped is replaced, not used
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        kwargs["connect_args"] = {"timeout": 60}
    elif backend == "postgresql" and make_url(url).get_driver_name() in ("psycopg", "psycopg2"):  # libpq
        # fail a connect within 10 s, and notice a peer that vanished mid-query (TCP keepalives)
        kwargs["connect_args"] = {"connect_timeout": 10, "keepalives_idle": 30, "keepalives_interval": 10,
                                  "keepalives_count": 3}
    return kwargs


def open_storage(url: str, heartbeat_s: int = HEARTBEAT_S, grace_s: int = GRACE_S,
                 must_exist: bool = False, retry_s: float | None = None) -> ResilientStorage:
    """RDB storage with heartbeats (a dead agent's trial is failed and re-queued) that waits out outages.

    An unreachable or misconfigured storage at this point is a UserError naming the redacted URL.
    """
    if must_exist:
        check_sqlite_exists(url)
    if url.startswith("sqlite"):
        check_sqlite_file(url.split(":///", 1)[-1])
    if retry_s is None:
        retry_s = float(os.environ.get(RETRY_ENV) or RETRY_S)
    try:
        with warnings.catch_warnings(), _creating(url):
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return ResilientStorage(url, retry_s=retry_s, engine_kwargs=_engine_kwargs(url),
                                    heartbeat_interval=heartbeat_s, grace_period=grace_s,
                                    heartbeat_stale_trial_callback=on_stale_trial)  # exactly-once re-queue
    except ImportError:
        raise UserError(f"no database driver for {redact_url(url)}: install it with "
                        "`pip install 'inat-cnn[postgres]'` (psycopg 3, which postgresql:// URLs use)") from None
    except Exception as err:  # noqa: BLE001 - any driver error is the user's URL or server
        hint = " (is the server running, and are the host and port right?)" if is_transient(err) else ""
        raise UserError(f"cannot open sweep storage {redact_url(url)}{hint}: {describe(err, url)}") from None


def _creating(url: str) -> contextlib.AbstractContextManager:
    """A lock beside a SQLite file while Optuna makes its tables: two commands that open a new sweeps.db at
    once would both create them ("table ... already exists"). PostgreSQL needs none (its DDL is transactional)."""
    if not url.startswith("sqlite"):
        return contextlib.nullcontext()
    from filelock import FileLock

    lock = f"{os.path.abspath(url.split(':///', 1)[-1])}.lock"
    return FileLock(lock, timeout=120) if os.access(os.path.dirname(lock), os.W_OK) else contextlib.nullcontext()


def check_sqlite_exists(url: str) -> None:
    """Opening a missing SQLite file would silently create an empty one: a UserError naming it instead."""
    path = url.split(":///", 1)[-1]
    if url.startswith("sqlite") and not os.path.exists(path):
        raise UserError(f"no sweep database at {path}: create a sweep first (`inat-cnn sweep create FILE`), or "
                        "point --workspace / --storage at the one your sweep uses (for a W&B sweep: --backend wandb)")


def check_sqlite_file(path: str) -> None:
    """UserError naming ``path`` and SQLite's own words when the file is damaged or cannot be written.

    ``PRAGMA quick_check`` reads every page once (6-10 ms for a 1.4 MB file of 1,000 trials): SQLite itself
    notices a damaged page only when a query touches it, and a write into a damaged file may spread the damage.
    The check runs on a read-only connection, so it changes nothing. SQLite writes a journal beside the file:
    the folder must be writable too.
    """
    if not os.path.exists(path):
        return
    import sqlite3
    from urllib.parse import quote

    try:
        con = sqlite3.connect(f"file:{quote(os.path.abspath(path))}?mode=ro", uri=True, timeout=60)
        try:
            found = [row[0] for row in con.execute("PRAGMA quick_check").fetchall()]
        finally:
            con.close()
    except sqlite3.DatabaseError as err:
        found = [str(err)]
    if found != ["ok"]:
        words = "; ".join(found[:3]) + (f" (and {len(found) - 3} more)" if len(found) > 3 else "")
        raise UserError(f"sweeps database {path} is damaged: SQLite says \"{words}\". Nothing was written to it. "
                        "Restore it from a copy, or move it aside (the trial folders under runs/ keep each "
                        "trial's results) and create the sweep again")
    folder = os.path.dirname(os.path.abspath(path))
    if not (os.access(path, os.W_OK) and os.access(folder, os.W_OK)):
        what = path if not os.access(path, os.W_OK) else f"its folder {folder} (SQLite writes a journal there)"
        raise UserError(f"sweeps database {path} is read-only: {what} cannot be written (SQLite would say "
                        "\"attempt to write a readonly database\"), and every sweep command records in it. "
                        "Make it writable (chmod u+w, or remount the disk read-write), or copy it to a "
                        "writable folder and point --workspace / --storage there")


class ResilientStorage(RDBStorage):
    """An RDBStorage whose calls wait out a storage outage, then raise ``EnvironmentFault(what="storage")``.

    Heartbeats never raise (the thread must outlive an outage), and right after an outage ends no trial is
    judged stale: its agent could not send heartbeats either, so give it a full grace period to resume.
    """

    def __init__(self, url: str, *, retry_s: float = RETRY_S, **kwargs: Any) -> None:
        self.retry_s = retry_s
        self._outage_lock = threading.Lock()
        self._outage_since: float | None = None
        self._recovered_at = float("-inf")
        super().__init__(url, **kwargs)

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)``, retried with backoff while the storage is unreachable."""
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_delay(self.retry_s), retry=tenacity.retry_if_exception(is_transient),
            wait=tenacity.wait_exponential(multiplier=0.5, max=10) + tenacity.wait_random(0, 0.5),  # jittered
            before_sleep=self._note_outage, reraise=True)
        try:
            result = retrying(fn, *args, **kwargs)
        except Exception as err:
            if is_transient(err):
                raise EnvironmentFault(
                    f"sweep storage {redact_url(self.url)} unreachable for {self.retry_s:.0f} s "
                    f"({describe(err, self.url)}); finished trials are kept: start the agent again once the "
                    f"database is back (${RETRY_ENV} sets how long to wait)", what="storage") from None
            if "disk is full" in str(_root_cause(err)) and self.url.startswith("sqlite"):
                from ..atomic import DiskError, free_space

                path = self.url.split(":///", 1)[-1]
                raise DiskError(f"cannot write the sweeps database {path}: SQLite says \"database or disk is full\" "
                                f"({free_space(path)}). Free some space (old runs/, cache/ or wandb/ of the "
                                "workspace) and run it again; finished trials are kept", path) from None
            raise
        self._note_recovery()
        return result

    def _note_outage(self, state: tenacity.RetryCallState) -> None:
        with self._outage_lock:
            if self._outage_since is not None:
                return
            self._outage_since = time.monotonic()
        err = state.outcome.exception() if state.outcome else None
        _log.warning("sweep storage %s unreachable (%s); retrying for up to %.0f s", redact_url(self.url),
                     describe(err, self.url) if err else "?", self.retry_s)

    def _note_recovery(self) -> None:
        if self._outage_since is None:
            return
        with self._outage_lock:
            since, self._outage_since = self._outage_since, None
            if since is None:
                return
            self._recovered_at = time.monotonic()
        _log.warning("sweep storage %s reachable again after %.1f s", redact_url(self.url),
                     self._recovered_at - since)

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.call(RDBStorage.record_heartbeat, self, trial_id)
        except EnvironmentFault as fault:  # the thread retries at its next beat; the main thread stops the agent
            _log.warning("%s", fault)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        stale = self.call(RDBStorage._get_stale_trial_ids, self, study_id)
        hold = (self.grace_period or 2 * (self.heartbeat_interval or HEARTBEAT_S)) + (self.heartbeat_interval or 0)
        if stale and time.monotonic() - self._recovered_at < hold:
            return []  # heartbeats missed during our own outage prove nothing about their agents
        return stale


def _retried(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: ResilientStorage, *args: Any, **kwargs: Any) -> Any:
        return self.call(method, self, *args, **kwargs)

    return wrapper


# Every call that opens its own session: claim (create_new_trial, set_trial_param), report and tell
# (set_trial_intermediate_value, set_trial_state_values), attributes and reads, and the private ones Optuna's
# _CachedStorage (which wraps any RDBStorage a study is given) calls instead of the public ones. Helpers that
# take a caller's session are not retried: the caller's retry opens a fresh session.
for _name in ("create_new_study", "delete_study", "set_study_user_attr", "set_study_system_attr",
              "get_study_id_from_name", "get_study_name_from_id", "get_study_directions", "get_study_user_attrs",
              "get_study_system_attrs", "get_all_studies", "create_new_trial", "_create_new_trial", "set_trial_param",
              "_set_trial_param", "get_trial_id_from_study_id_trial_number", "get_trial_param",
              "set_trial_state_values", "set_trial_intermediate_value", "set_trial_user_attr",
              "set_trial_system_attr", "get_trial", "get_all_trials", "_get_trials", "get_trial_user_attrs",
              "get_trial_system_attrs", "get_best_trial", "_get_best_trial_id"):
    setattr(ResilientStorage, _name, _retried(getattr(RDBStorage, _name)))


# --- sweeps ------------------------------------------------------------------------------------------

def new_sweep_id(validated: ValidatedSweep) -> str:
    stem = validated.spec.name or "sweep"
    stem = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem).strip("-")[:40] or "sweep"
    return f"{stem}-{secrets.token_hex(3)}"


SEED_KEY = "seed"  # the search's seed (an int), or None: every agent samples from its own random stream


def sweep_seed(study: optuna.Study) -> int | None:
    """The seed the sweep's proposals are drawn with (None: unseeded; also every sweep made before seeds)."""
    seed = study.user_attrs.get(SEED_KEY)
    return None if seed is None else int(seed)


def create_sweep(validated: ValidatedSweep, storage: RDBStorage, sweep_id: str | None = None,
                 seed: int | None = None) -> str:
    """Create the Optuna study of a sweep, seeded ``seed`` (None: unseeded); clear error when the local engine
    cannot honour the spec."""
    require_local_support(validated.spec, validated.source)
    sweep_id = sweep_id or new_sweep_id(validated)
    study = optuna.create_study(study_name=sweep_id, storage=storage, direction=direction(validated.spec))
    spec = validated.spec
    study.set_user_attr("spec", spec.to_wandb())
    study.set_user_attr("source", validated.source)
    metric, goal = sweep_objective(spec.metric)
    study.set_user_attr("metric", metric)
    study.set_user_attr("goal", goal)
    study.set_user_attr("backend", "local")
    study.set_user_attr(SEED_KEY, seed)
    study.set_user_attr("created_at", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    return sweep_id


def load_study(sweep_id: str, storage: RDBStorage | str) -> tuple[optuna.Study, ValidatedSweep]:
    """Open a sweep's study and its spec, or a UserError listing the sweeps that exist."""
    if isinstance(storage, str):
        storage = open_storage(storage, must_exist=True)
    study = find_study(sweep_id, storage)
    validated = validate_sweep_dict(study.user_attrs["spec"], source=study.user_attrs.get("source", sweep_id))
    return study, validated


def find_study(sweep_id: str, storage: RDBStorage) -> optuna.Study:
    """The sweep's Optuna study, or a UserError naming the storage (redacted) and the sweeps it holds."""
    try:
        return optuna.load_study(study_name=sweep_id, storage=storage)
    except KeyError:
        pass
    names = optuna.get_all_study_names(storage)  # in creation order
    known = ", ".join(names[-20:]) if names else "none yet (create one with `inat-cnn sweep create FILE`)"
    hint = " (a W&B sweep path? pass --backend wandb)" if "/" in sweep_id else ""
    where = redact_url(storage.url) if isinstance(getattr(storage, "url", None), str) else "this storage"
    raise UserError(f"no sweep {sweep_id!r} in {where}{hint}; sweeps there: {known}")
