"""Install a Debian package a test needs (a real server, a real browser) when we can; say why when we cannot."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from filelock import FileLock


def apt_install(package: str, *options: str) -> str | None:
    """apt-get install ``package`` when we are root and apt-get exists; None on success, else the reason."""
    if shutil.which("apt-get") is None:
        return f"apt-get is not available to install {package}"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return f"not root: cannot apt-get install {package}"
    with FileLock(str(Path(tempfile.gettempdir()) / "inat-cnn-tests-apt.lock")):  # pytest -n: one apt at a time
        return _apt_get(package, options)


def _apt_get(package: str, options: tuple[str, ...]) -> str | None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", *options, package]
    try:
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:  # a stale package list: refresh it once
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300)
            done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"apt-get install {package} failed: {err}"
    if done.returncode != 0:
        return f"apt-get install {package} failed: {done.stderr.strip()[-300:]}"
    return None
