"""The project's small error taxonomy.

- ``UserError``: the user gave bad input (a file, a key, a value). The CLI prints
  its one-paragraph message and exits with code 2, never a traceback.
- ``TrialFailed``: this trial cannot finish (NaN loss, OOM, a bug in one config).
  The agent records it failed with its reason and goes on to the next trial.
- ``SweepStop``: the sweep (or this agent) must stop: too many consecutive
  failures, a storage that cannot be reached.
- ``EnvironmentFault``: the machine failed the trial, not its configuration (data
  root missing or changed, decode cache corrupt, storage unreachable). The point
  goes back in the queue, the agent stops with the message, no result is counted.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input, located as precisely as we can."""

    message: str
    file: str | None = None
    key_path: str | None = None
    line: int | None = None

    def render(self) -> str:
        where = []
        if self.file:
            where.append(str(self.file) + (f":{self.line}" if self.line else ""))
        elif self.line:
            where.append(f"line {self.line}")
        if self.key_path:
            where.append(f"at `{self.key_path}`")
        prefix = " ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class InatCnnError(Exception):
    """Base of every error this project raises on purpose."""


class UserError(InatCnnError):
    """Bad input from the user: reported as a clear message, exit code 2."""

    exit_code = 2

    def __init__(self, message: str | None = None, problems: list[Problem] | None = None):
        self.problems = list(problems or [])
        if message is None:
            message = "\n".join(p.render() for p in self.problems)
        super().__init__(message)


class TrialFailed(InatCnnError):
    """One trial failed; the sweep goes on. ``reason`` is short and user-facing."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


class SweepStop(InatCnnError):
    """The agent or sweep must stop (exit code 1), with a clear message."""

    exit_code = 1


class EnvironmentFault(InatCnnError):
    """The environment, not the trial's configuration, made the trial fail (exit code 1).

    ``what`` names the broken piece in a word (``data``, ``cache``, ``storage``, ``disk``) so the
    engine can re-queue the point and the agent can stop with a message in the user's terms.
    """

    exit_code = 1

    def __init__(self, message: str, what: str = "environment"):
        self.what = what
        super().__init__(message)


class TrialPruned(InatCnnError):
    """The engine's early-termination rule (hyperband) stopped this trial: not a failure."""

    def __init__(self, epoch: int):
        self.epoch = epoch
        super().__init__(f"pruned after epoch {epoch}")


class Preempted(KeyboardInterrupt):
    """SIGTERM/SIGINT reached an agent: its running trial is failed as preempted and re-queued.

    A KeyboardInterrupt subclass so that no ``except Exception`` in training swallows it.
    """


def outcome_of(err: BaseException) -> str:
    """How a trial that raised ``err`` ended, the one sorting every layer uses: ``pruned``, ``preempted`` (a
    signal: run the point again), ``fault`` (the machine's: run it again, stop the agent) or ``failed``
    (its configuration's own failure, or a bug: recorded with its reason, the sweep goes on)."""
    if isinstance(err, TrialPruned):
        return "pruned"
    if isinstance(err, Preempted):
        return "preempted"
    if isinstance(err, EnvironmentFault):  # before UserError: a full disk (atomic.DiskError) is both
        return "fault"
    return "failed"
