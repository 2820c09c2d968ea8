"""Decode worker processes die with the process that started them, however it ends (even SIGKILL).

A forked pool worker blocks on its task pipe; it inherits both ends, so it never sees end-of-file
when the parent is killed and would live on, holding the parent's open files (the sweep database,
the cache). Two guards, set by the pool initializer:

- Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``, so the kernel kills the worker the moment the
  thread that forked it ends (the pool is created and closed by the same thread that decodes);
- everywhere: a daemon thread that polls the parent pid twice a second and exits the worker when
  it has been re-parented, which also covers a parent that died before ``prctl`` took effect.
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


def _watch_parent(parent_pid: int) -> None:
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)  # no cleanup: the parent's files are not ours to flush
        time.sleep(POLL_S)


def die_with_parent(parent_pid: int) -> None:
    """Pool initializer: bind this worker's life to ``parent_pid`` (the pool's creator)."""
    _set_parent_death_signal()
    if os.getppid() != parent_pid:
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), name="parent-watchdog", daemon=True).start()
