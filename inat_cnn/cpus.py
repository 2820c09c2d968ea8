"""How many CPUs this process may use: its affinity mask (a container, ``taskset`` or a SLURM job grants
fewer cores than ``os.cpu_count()`` counts on the host), else the host's count."""

from __future__ import annotations

import os


def usable_cpus() -> int:
    """The CPUs this process may run on (at least 1)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
