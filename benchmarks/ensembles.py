"""Ensembles against the best single model, on scikit-learn's digits with a deliberately small CNN.

A local random sweep (6 trials: image_size 16 | 24, filters, dense units, learning rate; every trial
trained with ``lr_schedule: snapshot``, ``snapshots: 5`` over 10 epochs) runs on one in-process agent;
``export best --top-k 3 --snapshots --seeds 3 --data`` queues 3 seed trials of the best configuration,
the agent runs them (outside the sweep's run_cap), and a second export builds and judges every ensemble
on the test split. Prints one Markdown table (test accuracy) and writes the exports' JSON.

    .venv/bin/python benchmarks/ensembles.py --out /tmp/ens-bench
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the digits class-folder helper

from digits_data import write_digits  # noqa: E402

SPACE = {"model": {"value": "scratch"}, "image_size": {"values": [16, 24]}, "conv_blocks": {"value": 2},
         "filters": {"values": [4, 8, 16]}, "dense_units": {"values": [16, 32]},
         "learning_rate": {"values": [0.003, 0.01]}, "epochs": {"value": 10}, "batch_size": {"value": 32},
         "lr_schedule": {"value": "snapshot"}, "snapshots": {"value": 5}, "viz": {"value": False}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="Scratch folder (data, workspace, exports)")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0, help="The sweep sampler's seed")
    args = parser.parse_args()

    from inat_cnn.data import load_splits
    from inat_cnn.engine.agent import run_agent
    from inat_cnn.engine.storage import create_sweep, open_storage
    from inat_cnn.export.best import export_best
    from inat_cnn.report.results import read_sweep_results
    from inat_cnn.spec import validate_sweep_dict
    from inat_cnn.workspace import Workspace

    started = time.perf_counter()
    data = args.out / "digits"
    if not data.is_dir():  # a second run reuses the dataset (and its decode cache); each run is a new sweep
        write_digits(data, side=24, per_class=140, test_per_class=30)
    ws = Workspace(args.out / "ws")
    for size in SPACE["image_size"]["values"]:  # decoded once up front, as `inat-cnn data prepare` does
        load_splits(data, size, cache_dir=ws.ensure().cache)
    spec = {"name": "digits-ensembles", "method": "random", "run_cap": args.trials,
            "metric": {"name": "val_accuracy", "goal": "maximize"}, "parameters": SPACE}
    validated = validate_sweep_dict(yaml.safe_load(yaml.safe_dump(spec)))
    sweep_id = create_sweep(validated, open_storage(ws.ensure().db_url))
    run_agent(sweep_id, data, workspace=ws, log=print)

    def export(name: str):
        result = read_sweep_results(sweep_id, storage=ws.db_url)
        return export_best(result, args.out / name, top_k=3, snapshots=True, seeds=3, data_root=data,
                           cache_dir=ws.cache, storage_url=ws.db_url, force=True)

    export("queue-seeds")  # queues the 3 seed trials (and judges top-3 and snapshots already)
    run_agent(sweep_id, data, workspace=ws, log=print)  # the seed trials: run_cap is used up, they still run
    final = export("best")
    rows = table(final)
    print(f"\nsweep {sweep_id}, {args.trials} trials + 3 seed trials, {time.perf_counter() - started:.0f} s\n")
    print("| model | members | test accuracy | val accuracy | FLOPs per image |\n|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    metrics = json.loads((final.out / "metrics.json").read_text())
    (args.out / "ensembles.json").write_text(json.dumps(
        {k: metrics.get(k) for k in ("ensemble", "snapshot_ensemble", "seed_ensemble", "test_accuracy")}, indent=2))


def table(final) -> list[list[str]]:
    summaries = {s.kind: s for s in ([final.ensemble] if final.ensemble else []) + final.others}
    topk = summaries["top-k"].judged
    rows = [["best single trial " + topk.best_single["name"], "1", f"{topk.best_single['test_accuracy']:.4f}",
             "", f"{topk.cost['one_member_flops']:,}"]]
    for kind, label in (("top-k", "top-3"), ("snapshots", "5-snapshot"), ("seeds", "3-seed")):
        judged = summaries[kind].judged if kind in summaries else None
        if judged is None:
            continue
        names = ("mean", "greedy", "stacked") if kind == "top-k" else ("mean",)
        for name in names:
            agg = judged.aggregations.get(name, {})
            rows.append([f"{label} {name}", str(len(judged.members)), _f(agg.get("test_accuracy")),
                         _f(agg.get("val_accuracy")), f"{judged.cost['ensemble_flops']:,}"])
        if judged.baseline:
            rows.append([f"  same-cost baseline for {label}: {judged.baseline['count']} copies of the best config",
                         str(judged.baseline["count"]), _f(judged.baseline["test_accuracy"]), "", ""])
    return rows


def _f(value) -> str:
    return "" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    main()
