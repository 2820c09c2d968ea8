"""A sweep's state on the terminal (shared by `sweep status`, `sweep run` and `demo`): tables, the status lines,
and agents run under a live table."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from ..report.records import format_value

console = Console(highlight=False, width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def trials_table(rows: list[Any], metric: str, title: str | None = None, limit: int | None = None) -> Table:
    """Trial, state, params, metric, test accuracy, epochs, duration; rows come best first."""
    table = Table(title=title, header_style="bold", show_lines=False)
    for col in ("trial", "state", "params", metric, "test_acc", "epochs", "duration"):
        table.add_column(col, overflow="fold", no_wrap=col != "params")
    table.add_column("note", overflow="ellipsis", max_width=48, no_wrap=True)
    colours = {"finished": "green", "running": "cyan", "waiting": "blue", "pruned": "yellow", "failed": "red"}
    for r in rows[:limit]:
        table.add_row(
            str(r.number), f"[{colours[r.state]}]{r.state}[/]",
            " ".join(f"{k}={format_value(v)}" for k, v in r.params.items()),
            format_value(r.value, "-"),
            format_value(r.test_accuracy, "-"),
            str(r.epochs), f"{r.duration_s:.0f}s" if r.duration_s is not None else "-", r.note)
    return table


def seed_line(seed: int | None) -> str:
    """What the sweep's seed means, in one line."""
    if seed is None:
        return "seed: none (each agent draws its own points; `sweep create --seed N --new` makes a reproducible one)"
    return f"seed: {seed} (the same seed proposes the same points in the same order; see `sweep preview --seed {seed}`)"


def print_status(state: Any, limit: int | None = None) -> None:
    """`sweep status`: the table (best first), the dataset, the seed, what was re-queued, why it stopped."""
    title = f"sweep {state.sweep_id} ({state.method}, {state.metric} {state.goal}): " \
        + ", ".join(f"{n} {s}" for s, n in state.counts.items())
    console.print(trials_table(state.rows, state.metric, title=title, limit=limit))
    console.print(f"dataset: {state.dataset}")
    console.print(seed_line(state.seed))
    if state.pruning:
        console.print(state.pruning)
    for failed, copy in state.settled:
        console.print(f"trial {failed} lost its agent: re-queued as trial {copy} (an agent runs it)")
    if state.stopped_reason:
        console.print(f"stopped: {state.stopped_reason}")


def run_and_watch(file: Path, data: Path, agents: int, storage: str | None, workspace: Any, extra: list[str],
                  gpus: list[str] | None = None, new: bool = False, seed: int | None = None,
                  pruning: Any = None) -> str:
    """Create a local sweep (or continue the one this file made) and run ``agents`` agent processes on it
    under a live table; the sweep id."""
    from rich.live import Live

    from ..engine.orchestrate import create_sweep_from_file, run_agents_on

    sweep_id = create_sweep_from_file(file, "local", storage, workspace, str(data), new=new, seed=seed,
                                      log=err_console.print, pruning=pruning)
    logs = workspace.runs / sweep_id / "agents"
    console.print(f"sweep [bold]{sweep_id}[/]; starting {agents} agent(s) (logs in {logs})")
    with Live(f"starting {agents} agent(s)", console=console, refresh_per_second=1, transient=True) as live:
        codes = run_agents_on(sweep_id, data, workspace, agents=agents, storage=storage, extra=extra, gpus=gpus,
                              on_tick=lambda s: live.update(trials_table(s.rows, s.metric, title=f"sweep {sweep_id}")))
    if any(codes):
        console.print(f"[yellow]agents exited with codes {codes}; see their logs in {logs}[/]")
    return sweep_id
