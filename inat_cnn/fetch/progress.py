"""A rich progress bar for one download (bytes, speed, time left) on stderr, so stdout stays for results.

Drawn only on a terminal: in a log file a live bar is noise."""

from __future__ import annotations


class Bar:
    """``with Bar(name) as bar: bar.start(total, done); bar.advance(n)``; a disabled bar does nothing."""

    def __init__(self, name: str, enabled: bool = True):
        self.name, self.enabled = name, enabled
        self._progress = self._task = None

    def __enter__(self) -> Bar:
        from rich.console import Console

        console = Console(stderr=True)
        if self.enabled and console.is_terminal:  # a log file gets no bar (callers print a summary line)
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                      TransferSpeedColumn(), TimeRemainingColumn(), console=console)
            self._progress.start()
        return self

    def start(self, total: int | None, done: int) -> None:
        """(Re)start the bar at ``done`` of ``total`` bytes (None: size unknown)."""
        if self._progress is None:
            return
        if self._task is None:
            self._task = self._progress.add_task(self.name, total=total, completed=done)
        else:
            self._progress.update(self._task, total=total, completed=done)

    def advance(self, n: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()
