"""Fixtures for the report tests: a real headless Chromium, installed here when missing."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--hide-scrollbars", "--virtual-time-budget=5000",
          "--enable-unsafe-swiftshader"]  # software WebGL for parcoords, without a console warning


def _install_chromium() -> str | None:
    """apt-get install chromium (Debian) when we are root and apt-get exists; the reason when we cannot."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available to install chromium"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return "not root: cannot apt-get install chromium"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "chromium"]  # its recommends bring fonts-liberation
    try:
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300)
            done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"apt-get install chromium failed: {err}"
    if done.returncode != 0:
        return f"apt-get install chromium failed: {done.stderr.strip()[-300:]}"
    return None


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a chromium binary; installs Debian's chromium, skips (saying why) only when that is impossible."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = _install_chromium()
        found = shutil.which("chromium") or shutil.which("chromium-browser")
        if found is None:
            pytest.skip(f"headless Chromium unavailable: {reason or 'chromium not on PATH after install'}")
    return found


class Browser:
    """Runs chromium headless on a local file, closed to the network, with a fresh profile each time."""

    def __init__(self, binary: str, workdir: Path):
        self.binary = binary
        self.workdir = workdir

    def _run(self, page: Path, *extra: str) -> subprocess.CompletedProcess:
        profile = self.workdir / f"profile-{len(list(self.workdir.glob('profile-*')))}"
        profile.mkdir(parents=True)
        cmd = [self.binary, *_FLAGS, f"--user-data-dir={profile}", *extra, page.resolve().as_uri()]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=90)

    def dump_dom(self, page: Path) -> tuple[str, str]:
        """(serialised DOM after scripts ran, chromium's stderr with console logging)."""
        done = self._run(page, "--dump-dom", "--enable-logging=stderr", "--v=0")
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout, done.stderr

    def screenshot(self, page: Path, out: Path, size: str = "1280,2400") -> Path:
        done = self._run(page, f"--screenshot={out}", f"--window-size={size}")
        assert done.returncode == 0 and out.is_file(), done.stderr[-2000:]
        return out


@pytest.fixture
def browser(chromium, tmp_path) -> Browser:
    return Browser(chromium, tmp_path / "chromium")
