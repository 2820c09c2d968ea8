"""Decode worker processes die with the process that started them, however it ends (even SIGKILL).

A pool worker blocks on its task pipe and would live on when the process that started the pool is
killed, holding that process's open files (the sweep database, the cache). Workers are forked by
a fork server (a clean single-threaded process, so no lock held by a thread of a TensorFlow
process is inherited half-taken), which exits when the pool's creator dies. Two guards, set by
the pool initializer:

- Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, so the kernel kills the worker the moment the
  process that forked it (the fork server, or the creator itself under plain fork) ends;
- everywhere: a daemon thread that polls twice a second and exits the worker when the pool's
  creator is gone or the worker has been re-parented, which also covers a parent that died
  before ``prctl`` took effect.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
POLL_S = 0.5


def _set_parent_death_signal() -> None:
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except (OSError, AttributeError):  # no usable libc: the watchdog alone has to do
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _orphaned(creator_pid: int, forker_pid: int) -> bool:
    return os.getppid() != forker_pid or not _alive(creator_pid)


def _watch_parent(creator_pid: int, forker_pid: int) -> None:
    while True:
        if _orphaned(creator_pid, forker_pid):
            os._exit(1)  # no cleanup: the parent's files are not ours to flush
        time.sleep(POLL_S)


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: bind this worker's life to ``parent_pid`` (the pool's creator)."""
    _set_parent_death_signal()
    forker_pid = os.getppid()  # the creator under fork, the fork server under forkserver
    if _orphaned(parent_pid, forker_pid):
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid, forker_pid), name="parent-watchdog",
                     daemon=True).start()
