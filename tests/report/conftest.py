"""Fixtures for the report tests: a real headless Chromium, installed here when missing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from os_packages import apt_install

_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--hide-scrollbars", "--virtual-time-budget=5000",
          "--enable-unsafe-swiftshader"]  # software WebGL for parcoords, without a console warning


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of a chromium binary; installs Debian's chromium, skips (saying why) only when that is impossible."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        reason = apt_install("chromium")  # its recommends bring fonts-liberation
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
