"""The build lock of a cache folder: ``<folder>.lock`` beside it, one builder at a time.

The decode cache (``data.cache``) and the feature cache (``features.cache``) build a folder the
same way: take its lock (waiting, with one message, when another process builds it), look again
whether it is complete, build into a temporary folder, rename. Pruning takes the lock without
waiting and leaves a folder alone whose lock is held.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from filelock import FileLock, Timeout


def lock_path(folder: Path) -> Path:
    return folder.with_name(folder.name + ".lock")


@contextlib.contextmanager
def build_lock(folder: Path, on_wait: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Hold ``folder``'s lock; ``on_wait()`` is called once, before blocking, when another process holds it."""
    lock = FileLock(str(lock_path(folder)))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        on_wait()
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def lock_if_free(folder: Path) -> Iterator[bool]:
    """Hold ``folder``'s lock if nobody does (yields True), else yield False at once without it."""
    lock = FileLock(str(lock_path(folder)))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
