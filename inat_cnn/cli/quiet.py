"""A quiet terminal: framework start-up noise stays off the `inat-cnn` process's stderr.

TensorFlow 2.21 writes its oneDNN, CUDA-driver and CPU-feature lines through absl before absl's log is
initialised ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR"),
so ``TF_CPP_MIN_LOG_LEVEL`` does not reach them: they print even at 3. The CLI entry point therefore
moves file descriptor 2 onto a pipe read by a small forked filter process that drops the known start-up
patterns below and forwards everything else, byte for byte, to the real stderr. Python's own
``sys.stderr`` is pointed at a duplicate of the real stderr, so Python output (rich errors, progress
bars, warnings, tracebacks) never passes through the filter and keeps its terminal colours. The filter is
a process, not a thread, so that what a dying process writes last (a C++ check failure before abort())
still reaches the terminal. ``-v``/``--verbose`` or ``INAT_CNN_VERBOSE=1`` turn all of this off.
"""

from __future__ import annotations

import atexit
import io
import os
import re
import select
import signal
import sys
import time

VERBOSE_ENV = "INAT_CNN_VERBOSE"

# Lines seen from TensorFlow 2.21 on CPU machines, plus the start-up lines CUDA builds print.
_NOISE = re.compile(
    rb"^(?:WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    rb"|I\d{4} [\d:.]+\s+\d+ \S+:\d+\] .*"  # absl INFO lines: TF_CPP_MIN_LOG_LEVEL=2 asks them away anyway
    rb"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\."
    rb"|[EW]\d{4} [\d:.]+\s+\d+ \S+:\d+\] (?:Unable to register cu\w+ factory: .*"
    rb"|computation placer already registered.*|TF-TRT Warning: Could not find TensorRT))\r?$")
_NO_DRIVER = re.compile(rb"Could not find cuda drivers on your machine|CUDA_ERROR_NO_DEVICE")
# A failed cuInit is noise on a machine without a CUDA driver (or with every GPU hidden), news elsewhere.
_CUINIT = re.compile(rb"^E\d{4} .*failed call to cuInit: ")
_PARTIAL_WAIT_S = 0.2  # a line without its newline is forwarded after this long


def verbose_requested(argv: list[str]) -> bool:
    """``-v``/``--verbose`` among the root options (before the command), or INAT_CNN_VERBOSE set."""
    if os.environ.get(VERBOSE_ENV, "").strip().lower() in ("1", "true", "yes", "on", "y", "t"):  # as click reads it
        return True
    for token in argv:
        if token in ("-v", "--verbose"):
            return True
        if not token.startswith("-"):
            return False
    return False


def quiet_environment() -> None:
    """The variables that quiet what honours them (set only where the user has not chosen a value)."""
    for name, value in (("TF_CPP_MIN_LOG_LEVEL", "2"), ("GRPC_VERBOSITY", "ERROR"), ("GLOG_minloglevel", "2")):
        os.environ.setdefault(name, value)


def loud_environment() -> None:
    """Verbose: TensorFlow's own default log level unless the user chose one; children are verbose too."""
    from .. import TF_LOG_LEVEL_FROM_USER

    if not TF_LOG_LEVEL_FROM_USER:
        os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
    os.environ[VERBOSE_ENV] = "1"


def is_noise(line: bytes, no_driver: bool) -> bool:
    return bool(_NOISE.match(line)) or (no_driver and bool(_CUINIT.match(line)))


def _forward(read_fd: int, out_fd: int) -> None:
    """The filter process's loop: whole lines, minus the noise, until every writer has closed the pipe."""
    pending, no_driver = b"", False

    def emit(line: bytes) -> None:
        nonlocal no_driver
        no_driver = no_driver or bool(_NO_DRIVER.search(line))
        if not is_noise(line.rstrip(b"\n"), no_driver):
            os.write(out_fd, line)

    while True:
        ready, _, _ = select.select([read_fd], [], [], _PARTIAL_WAIT_S if pending else None)
        if not ready:  # a prompt or a progress line without newline: do not hold it back
            emit(pending)
            pending = b""
            continue
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            emit(line + b"\n")
    if pending:
        emit(pending)


def install_stderr_filter() -> bool:
    """Route fd 2 through the noise filter (True), or leave it alone where fork/pipes are missing (False)."""
    if not hasattr(os, "fork"):
        return False
    sys.stderr.flush()
    real = os.dup(2)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the filter: ignores the terminal's Ctrl-C (the pipe closing ends it)
        try:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            for fd in (0, 1, 2, write_fd):
                os.close(fd)
            _forward(read_fd, real)
        finally:
            os._exit(0)
    os.close(read_fd)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    encoding, errors = sys.stderr.encoding, sys.stderr.errors
    sys.stderr = io.TextIOWrapper(io.FileIO(real, "w", closefd=False), encoding=encoding, errors=errors,
                                  line_buffering=True, write_through=True)  # fmt: skip
    atexit.register(_drain, real, pid)
    return True


def _drain(real: int, pid: int, wait_s: float = 2.0) -> None:
    """At exit: close our end of the pipe and give the filter a moment to forward the last lines."""
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(real, 2)
    deadline = time.monotonic() + wait_s  # a child still holding the pipe keeps the filter alive
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            return
        time.sleep(0.01)


def settle(argv: list[str]) -> None:
    """Quiet (or, asked for it, loud) before anything imports TensorFlow: the CLI's first act."""
    if verbose_requested(argv):
        loud_environment()
        return
    quiet_environment()
    install_stderr_filter()
