"""Time to a good model on digits: the local engine (bayes + hyperband + metric.target, `inat-cnn sweep run`)
against the way peer projects run W&B sweeps (random search, no early termination, a fresh process per trial
decoding the folder every epoch), both arms interleaved in one run over many seeds.

  curves   train --trials random configurations of benchmarks/ttt_space.yaml to the end once (the engine's
           trial function) and cache their curves in a JSON: the base rate of each target, and the data for
           the replays. Continues a cut-off recording.
  analyze  from the curves: the base rate of every target, the target chosen (10-20 % of random configs reach
           it), and replays of the pruning choices (min_iter/eta, this epoch's value vs the best so far) and of
           TPE's start-up size (ttt_replay.py).
  run      the benchmark: for each seed both arms, in alternating order; the results JSON is rewritten after
           every arm, so a cut-off run still reports (and a rerun with the same --out continues it). Both arms
           share their random draws and their validation split (ttt_draws.py: the peer's configurations for seed
           S are the engine's random stream for S, which ours' TPE start-up trials are checked to equal; the
           peer reads ours' split, materialized as fit/ and valid/ folders); it prints the base rate measured
           in the run (the share of the peer's random trials that reach the target).
  replay-runs  pruning replayed on the peer trials that --runs recorded (ttt_run_replay.py), for --targets
  report   the figures of a results JSON: medians, trials and epochs to target, the peer/ours ratio with a
           bootstrap 90 % interval over seeds, where each arm's time goes; and a model of --seeds seeds from
           the measured per-trial costs and the curves (ttt_model.py), labelled as a model.

Run:  .venv/bin/python benchmarks/time_to_target.py curves --trials 48
      .venv/bin/python benchmarks/time_to_target.py analyze
      .venv/bin/python benchmarks/time_to_target.py replay-runs --runs benchmarks/ttt_results/run_c_0.9928.json ...
      .venv/bin/python benchmarks/time_to_target.py run --seeds 15 --out /tmp/ttt/results.json [--snapshot HEAD]
      (--quick: 3 epochs, 2 seeds unless --seeds, targets from the curves cut at 3 epochs: checks the plumbing)
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ttt_common import load_average, load_space, make_digits, quiet_env, read_json, snapshot, with_epochs, write_json  # noqa: E402

QUICK_EPOCHS = 3


def main() -> None:
    args = parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    {"curves": cmd_curves, "analyze": cmd_analyze, "run": cmd_run, "report": cmd_report,
     "replay-runs": cmd_replay_runs}[args.command](args)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("curves", "analyze", "run", "report", "replay-runs"))
    p.add_argument("--runs", type=Path, nargs="+", default=[], help="replay-runs: results JSONs")
    p.add_argument("--targets", type=float, nargs="+", default=[0.9928, 1.0], help="replay-runs: targets")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/ttt"))
    p.add_argument("--data", type=Path, default=None, help="digits class folders (default WORKDIR/digits)")
    p.add_argument("--curves", type=Path, default=None, help="curves JSON (default WORKDIR/curves.json)")
    p.add_argument("--out", type=Path, default=None, help="results JSON (default WORKDIR/results.json)")
    p.add_argument("--space", type=Path, default=None, help="sweep file (default benchmarks/ttt_space.yaml)")
    p.add_argument("--snapshot", default=None, help="a git revision whose inat_cnn/ the trials import (the "
                   "working tree may change under a long run); default: the installed working tree")
    p.add_argument("--trials", type=int, default=48, help="curves: random configurations to record")
    p.add_argument("--seeds", type=int, default=None, help="run: seeds 0..N-1 (default 15, --quick 2)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--target", type=float, default=None, help="default: chosen from the curves' base rate")
    p.add_argument("--max-peer-trials", type=int, default=40, help="the peer's draws per seed (the "
                   "engine's random stream of the space's random copy)")
    p.add_argument("--ours-agents", type=int, default=1, help="run: ours' `sweep run --agents N` (the peer runs "
                   "one agent, as peer projects do; N agents split the cores between them)")
    p.add_argument("--arm-timeout", type=float, default=1200.0, help="seconds per arm and seed at most")
    p.add_argument("--quick", action="store_true", help=f"{QUICK_EPOCHS} epochs: a plumbing check")
    args = p.parse_args()
    args.data = args.data or args.workdir / "digits"
    args.curves = args.curves or args.workdir / "curves.json"
    args.out = args.out or args.workdir / ("results_quick.json" if args.quick else "results.json")
    args.epochs = QUICK_EPOCHS if args.quick else None
    args.seeds = args.seeds if args.seeds is not None else (2 if args.quick else 15)
    return args


def space_of(args) -> dict:
    return with_epochs(load_space(args.space) if args.space else load_space(), args.epochs)


def cmd_curves(args) -> None:
    from ttt_curves import record_curves

    source, source_id = snapshot(args.snapshot)
    curves = record_curves(load_space(args.space) if args.space else load_space(), args.trials, None,
                           make_digits(args.data), args.workdir, source, source_id, args.curves)
    print(f"{len(curves['trials'])} curves in {args.curves}")
    cmd_analyze(args)


def cmd_analyze(args) -> None:
    from ttt_replay import analysis, print_analysis

    curves = _curves(args)
    result = analysis(curves, space_of(args), epochs=args.epochs)
    print_analysis(result)
    write_json(args.workdir / ("analysis_quick.json" if args.quick else "analysis.json"), result)


def cmd_replay_runs(args) -> None:
    from ttt_run_replay import print_replays, replay_runs

    if not args.runs:
        _fail("replay-runs needs --runs RESULTS.json [...]")
    result = replay_runs(args.runs, args.targets)
    print_replays(result)
    write_json(args.workdir / "replay_runs.json", result)


def _curves(args) -> dict:
    curves = read_json(args.curves)
    if not curves or not curves.get("trials"):
        _fail(f"no curves in {args.curves}: run `time_to_target.py curves` first")
    return curves


def _target(args, curves: dict) -> tuple[float, dict]:
    from ttt_curves import base_rates, choose_target, truncated

    cut = truncated(curves, args.epochs)
    target = args.target if args.target is not None else choose_target(cut)
    return target, base_rates(cut, [target])[0]


def cmd_run(args) -> None:
    source, source_id = snapshot(args.snapshot)
    if source is not None:  # the draws and the split below come from the code the trials run
        sys.path.insert(0, str(source))
    from ttt_draws import DrawsDiffer, materialize_split, ours_split_defaults, peer_draws
    from ttt_peer import decode_rate
    from ttt_stats import measured_base_rate, table

    env, data, space = quiet_env(source), make_digits(args.data), space_of(args)
    target, rate = _target(args, _curves(args))
    split_dir = args.workdir / "peer_data"
    try:
        fraction, split_seed = ours_split_defaults(space, peer_draws(space, args.first_seed, 1)[0])
        split = materialize_split(data, split_dir, fraction, split_seed)
    except DrawsDiffer as err:
        _fail(str(err))
    shared = {"draws": "the peer's trials for seed S are the engine's proposals for a `method: random` copy of "
                       "the space seeded S (`sweep preview --seed S`); ours' TPE start-up trials are checked equal",
              "split_id": split["split_id"], "val_fraction": fraction, "split_seed": split_seed,
              "fit_images": len(split["train"]), "valid_images": len(split["val"]), "peer_data": str(split_dir)}
    results = read_json(args.out) or {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.platform(),
        "cpus": os.cpu_count(), "source": source_id, "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "target": target, "base_rate": f"{rate['reached']}/{rate['of']} = {rate['rate']:.0%}",
        "epochs": space["parameters"]["epochs"]["value"], "space": space, "seeds": {}, "load_average": [],
        "shared": shared, "ours_agents": args.ours_agents, "decode": decode_rate(split_dir, data, env)}
    differs = [f"{key} {results.get(key)!r} (this run: {mine!r})" for key, mine in
               (("target", target), ("source", source_id), ("shared", shared),
                                         ("ours_agents", args.ours_agents)) if results.get(key) != mine]
    if differs:
        _fail(f"{args.out} holds another run: its {'; its '.join(differs)}. A run continues only with the same "
              "target, source and shared draws and split: give another --out (or delete the file) to start anew")
    print(f"target {target}: base rate {results['base_rate']} (curves); source {source_id}; both arms share the "
          f"engine's random draws per seed and split {split['split_id']} ({len(split['train'])} fit, "
          f"{len(split['val'])} validation images); results in {args.out}", flush=True)
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        row = results["seeds"].setdefault(str(seed), {})
        try:
            _run_seed(args, results, row, seed, space, target, data, split_dir, env)
        except DrawsDiffer as err:
            write_json(args.out, results)
            _fail(f"the arms do not share what the paired comparison assumes: {err}")
        print(f"base rate measured in this run so far: {measured_base_rate(results)}", flush=True)
    print(table(results))


def _run_seed(args, results: dict, row: dict, seed: int, space: dict, target: float, data: Path, split_dir: Path,
              env: dict) -> None:
    """Both arms of one seed (those not yet in ``row``), alternating which goes first, each checked to use the
    shared draws and split; the results JSON is rewritten after each arm."""
    from ttt_draws import check_ours_trials, check_split, check_startup, peer_draws, startup_count
    from ttt_ours import run_ours
    from ttt_peer import run_peer

    draws = peer_draws(space, seed, args.max_peer_trials)
    check_startup(space, seed, draws)  # before training anything
    order = ("ours", "peer") if seed % 2 == 0 else ("peer", "ours")
    for arm in order:
        if arm in row:
            continue
        folder = args.workdir / ("quick" if args.quick else "full") / f"{arm}-s{seed}"
        results["load_average"].append(load_average())
        if arm == "ours":
            r = run_ours(space, seed, target, data, folder, env, args.arm_timeout, agents=args.ours_agents)
            ran = bool(r["trials"])  # a command that failed before its first trial has nothing to check
            r["shared"] = {"startup_trials_checked": check_ours_trials(r["trials"], draws,
                                                                   startup_count(space, len(draws)), seed),
                           "split_id": check_split(split_dir, folder / "ws") if ran else None}
        else:
            r = run_peer(draws, seed, target, data, split_dir, folder, env, args.arm_timeout)
            r["shared"] = {"draws": f"engine random stream, seed {seed}", "split_id": results["shared"]["split_id"]}
        row[arm] = r
        results["load_average"].append(load_average())
        loads = [x[0] for x in results["load_average"]]
        results["load_range"] = f"{min(loads):.1f}-{max(loads):.1f}"
        write_json(args.out, results)
        print(f"seed {seed} {arm}: {r['time_to_target_s']:.1f} s, reached {r['reached']}, "
              f"{len(r['trials'])} trials, load {load_average()[0]}", flush=True)


def _fail(message: str) -> None:
    """A clear one-paragraph error, exit status 2."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def cmd_report(args) -> None:
    from ttt_stats import summary, table

    results = read_json(args.out)
    if not results:
        _fail(f"no results in {args.out}: run `time_to_target.py run --out {args.out}` first")
    print(table(results))
    out = {"measured": summary(results)}
    curves = read_json(args.curves)
    if (results.get("ours_agents") or 1) > 1:
        print("model: left out (it charges one agent's trials one after another; this run had several)")
    elif curves and summary(results).get("seeds"):
        from ttt_curves import truncated
        from ttt_model import model

        out["model"] = model(results, truncated(curves, args.epochs), seeds=args.seeds)
        m = out["model"]
        print(f"model (not a measurement; the measured per-trial costs above, the recorded curves, {m['seeds']} "
              f"seeds x {m['experiments']}): median ours {m['median_ours_s']} s, peer {m['median_peer_s']} s, "
              f"ratio of medians {m['median_ratio']}x, 90 % of experiments in {m['ratio_90']}; costs {m['costs']}")
    write_json(args.out.with_name(args.out.stem + "_summary.json"), out)


if __name__ == "__main__":
    main()
