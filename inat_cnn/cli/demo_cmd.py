"""`inat-cnn demo`: the README's main job, end to end on generated data, offline.

Synthesizes a small learnable dataset, runs sweeps/smoke.yaml on the embedded
engine with 2 agent processes, prints the leaderboard, writes the HTML report
and exports the best run with a top-2 ensemble.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from ..errors import UserError
from .options import WorkspaceOpt

DEFAULT_SWEEP = Path(__file__).resolve().parents[2] / "sweeps" / "smoke.yaml"


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(workspace: Path | None = WorkspaceOpt,
         sweep: Path = typer.Option(DEFAULT_SWEEP, "--sweep", help="Sweep YAML to run"),
         agents: int = typer.Option(2, "--agents", min=1, help="Local agent processes"),
         classes: int = typer.Option(5, "--classes", min=2, help="Classes of the synthetic dataset"),
         per_class: int = typer.Option(40, "--per-class", min=5, help="Training images per class")) -> None:
    """Synthesize data, run a small local sweep with 2 agents, report and export the best run."""
    from ..data import synthesize
    from ..engine.orchestrate import read_state
    from ..export.best import export_best
    from ..report.dashboard import write_report
    from ..report.results import read_sweep_results
    from ..workspace import Workspace
    from .status_view import console, print_status, run_and_watch

    if not sweep.is_file():
        raise UserError(f"--sweep {sweep}: file not found (run the demo from a clone of the repository, or pass "
                        "--sweep PATH/TO/smoke.yaml)")
    os.environ.setdefault("WANDB_MODE", "offline") if not os.environ.get("WANDB_API_KEY") else None
    ws = Workspace.resolve(workspace).ensure()
    data = ws.root / "demo_data"
    if not (data / "train").is_dir():
        console.print(f"synthesizing a {classes}-class dataset in {data}")
        synthesize(data, classes=classes, per_class=per_class, test_per_class=max(4, per_class // 4), seed=0)
    sweep_id = run_and_watch(sweep, data, agents, None, ws, [])
    print_status(read_state(sweep_id, None, ws))
    result = read_sweep_results(sweep_id, workspace=ws.root)
    report = write_report(result, ws.root / "reports" / f"{sweep_id}.html")
    exported = export_best(result, ws.root / "exports" / sweep_id, top_k=2, data_root=data, cache_dir=ws.cache)
    console.print(f"\n[bold]artefacts[/]\n  report:        {report.html}\n"
                  f"  best run:      {exported.out} (trial {exported.best.number}; reload with "
                  f"`inat-cnn evaluate {exported.out / 'model.keras'} --data {data}`)\n"
                  f"  trial folders: {ws.runs / sweep_id}\n  wandb runs:    {ws.wandb_dir} "
                  f"(offline; upload with `wandb sync {ws.wandb_dir}/wandb/offline-run-*`)")
