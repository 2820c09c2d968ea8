"""The figures of a time-to-target run: medians per arm, the peer/ours ratio of medians with a paired bootstrap
interval over seeds, and where each arm's time went. Pure functions of the results JSON."""

from __future__ import annotations

import math
import random
import statistics
from typing import Any

ARMS = ("ours", "peer")


def paired(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Seeds where both arms finished (a run cut off mid-seed leaves that seed out)."""
    rows = [results["seeds"][k] for k in sorted(results["seeds"], key=int)]
    return [r for r in rows if all(arm in r for arm in ARMS)]


def bootstrap_ratio(ours: list[float], peer: list[float], *, resamples: int = 10_000, level: float = 0.90,
                    seed: int = 0) -> tuple[float, float, float]:
    """median(peer) / median(ours) and its percentile interval, resampling seeds (pairs) with replacement."""
    point = statistics.median(peer) / statistics.median(ours)
    rng, n, ratios = random.Random(seed), len(ours), []
    for _ in range(resamples):
        pick = [rng.randrange(n) for _ in range(n)]
        ratios.append(statistics.median(peer[i] for i in pick) / statistics.median(ours[i] for i in pick))
    return (point, *_interval(ratios, level))


def _interval(draws: list[float], level: float) -> tuple[float, float]:
    """The percentile interval of bootstrap draws."""
    draws = sorted(draws)
    return draws[int((1 - level) / 2 * len(draws))], draws[min(len(draws) - 1, int((1 + level) / 2 * len(draws)))]


def bootstrap_geomean(ratios: list[float], *, resamples: int = 10_000, level: float = 0.90,
                     seed: int = 0) -> tuple[float, float, float]:
    """The geometric mean of per-seed ratios (paired: both arms ran the same draws) and its percentile interval."""
    logs = [math.log(r) for r in ratios]
    rng, n, means = random.Random(seed), len(logs), []
    for _ in range(resamples):
        means.append(sum(logs[rng.randrange(n)] for _ in range(n)) / n)
    lo, hi = _interval(means, level)
    return math.exp(sum(logs) / n), math.exp(lo), math.exp(hi)


def ceiling_times(rows: list[dict[str, Any]]) -> list[float] | None:
    """Per seed, what an engine that trained nothing but the hitting configuration would take: the peer's hitting
    trial from its launch to its target epoch (one process start, imports, ``wandb.init``, the epochs to the
    target; no command, sweep, agent or other trial). None where a run did not record it."""
    times = []
    for row in rows:
        hit = next((t for t in row["peer"]["trials"] if t.get("reached_at")), None)
        if hit is None or hit.get("launched_at") is None:
            return None
        times.append(hit["reached_at"] - hit["launched_at"])
    return times


def summary(results: dict[str, Any]) -> dict[str, Any]:
    rows = paired(results)
    out: dict[str, Any] = {"seeds": len(rows)}
    if not rows:
        return out
    for arm in ARMS:
        runs = [r[arm] for r in rows]
        out[arm] = {
            "median_time_to_target_s": statistics.median(x["time_to_target_s"] for x in runs),
            "reached": sum(bool(x["reached"]) for x in runs),
            "median_trials_to_target": _median(x["trials_to_target"] for x in runs),
            "median_epochs_to_target": _median(x["epochs_to_target"] for x in runs),
            "times_s": [round(x["time_to_target_s"], 1) for x in runs],
            "breakdown_share": shares([_breakdown(x) for x in runs]),
            "per_trial_s": _median(_trial_seconds(x) for x in runs),
        }
    out["peer"]["startup_parts_s"] = _startup_parts([r["peer"] for r in rows])
    out["peer"]["trials_reaching"] = measured_base_rate({"seeds": dict(enumerate(rows))})
    decode = results.get("decode") or {}
    if decode.get("images_per_s"):  # tf.data decoding inside the peer's epochs, at the decode-only pass's rate
        epochs = sum(t["epochs"] for r in rows for t in r["peer"]["trials"])
        out["peer"]["decode_estimate_s"] = round(epochs * decode["images"] / decode["images_per_s"], 1)
        out["peer"]["epochs_run"] = epochs
    point, lo, hi = bootstrap_ratio([r["ours"]["time_to_target_s"] for r in rows],
                                    [r["peer"]["time_to_target_s"] for r in rows])
    per_seed = [r["peer"]["time_to_target_s"] / r["ours"]["time_to_target_s"] for r in rows]
    out.update(ratio=point, ratio_interval_90=[lo, hi], median_per_seed_ratio=statistics.median(per_seed))
    g, glo, ghi = bootstrap_geomean(per_seed)
    out.update(geomean_per_seed_ratio=g, geomean_interval_90=[glo, ghi])
    ceiling = ceiling_times(rows)
    if ceiling:
        c, clo, chi = bootstrap_ratio(ceiling, [r["peer"]["time_to_target_s"] for r in rows])
        out.update(ceiling_ratio=c, ceiling_interval_90=[clo, chi], ceiling_median_s=statistics.median(ceiling))
    return out


def measured_base_rate(results: dict[str, Any]) -> str:
    """The share of the peer's random trials (those that trained an epoch) reaching the target, over every seed
    it ran: the base rate on the shared validation split, measured in the run itself. The peer stops at its
    first hit, so hits/trials is the geometric (maximum-likelihood) estimate."""
    trials = [t for row in results["seeds"].values() if "peer" in row for t in row["peer"]["trials"] if t["epochs"]]
    hits = sum(t["reached_at"] is not None for t in trials)
    return f"{hits}/{len(trials)} = {hits / len(trials):.0%}" if trials else "no peer trial yet"


def _startup_parts(runs: list[dict[str, Any]]) -> dict[str, float]:
    """The peer trials' launch-to-fit time by part, summed over every trial of every seed."""
    parts: dict[str, float] = {}
    for run in runs:
        for trial in run["trials"]:
            for key, value in (trial.get("startup_parts_s") or {}).items():
                parts[key] = round(parts.get(key, 0.0) + value, 1)
    return parts


def _median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _trial_seconds(run: dict[str, Any]) -> float | None:
    """The arm's time per trial it started (its pace, whatever the target)."""
    return run["time_to_target_s"] / len(run["trials"]) if run["trials"] else None


def _breakdown(run: dict[str, Any]) -> dict[str, float]:
    """An arm's parts; ours' with several agents recounted as agent-seconds (runs recorded before the harness
    counted them so have an ``other`` of wall time less overlapping parts)."""
    if run.get("arm") == "ours" and (run.get("agents") or 1) > 1:
        from ttt_ours import breakdown

        return breakdown(run["trials"], run["started_at"], run["started_at"] + run["wall_s"], run["agents"])
    return run["breakdown"]


def shares(breakdowns: list[dict[str, float]]) -> dict[str, float]:
    """Each part's share of the summed time (the keys ending in _s that add up to the total)."""
    keys = [k for k in breakdowns[0] if k.endswith("_s") and not k.startswith("median")]
    totals = {k: sum(b.get(k) or 0.0 for b in breakdowns) for k in keys}
    whole = sum(totals.values()) or 1.0
    return {k: round(v / whole, 3) for k, v in totals.items()}


def table(results: dict[str, Any]) -> str:
    s = summary(results)
    if not s.get("seeds"):
        return "no seed with both arms finished yet"
    lines = [f"target val_accuracy {results['target']} (base rate {results.get('base_rate', '?')}), "
             f"{s['seeds']} seeds, load average {results.get('load_range', '?')}",
             "| arm | median time to target s | reached | median trials | median epochs | s per trial |",
             "|---|---:|---:|---:|---:|---:|"]
    for arm in ARMS:
        a = s[arm]
        lines.append(f"| {arm} | {a['median_time_to_target_s']:.1f} | {a['reached']}/{s['seeds']} | "
                     f"{_f(a['median_trials_to_target'])} | {_f(a['median_epochs_to_target'])} | "
                     f"{_f(a['per_trial_s'])} |")
    lo, hi = s["ratio_interval_90"]
    lines.append(f"ratio peer/ours (medians) {s['ratio']:.2f}x, bootstrap 90 % interval [{lo:.2f}, {hi:.2f}]; "
                 f"median per-seed ratio {s['median_per_seed_ratio']:.2f}x; geometric mean of the per-seed ratios "
                 f"{s['geomean_per_seed_ratio']:.2f}x [{s['geomean_interval_90'][0]:.2f}, "
                 f"{s['geomean_interval_90'][1]:.2f}]")
    if "ceiling_ratio" in s:
        clo, chi = s["ceiling_interval_90"]
        lines.append(f"the ceiling (an engine that trains only the hitting configuration, median "
                     f"{s['ceiling_median_s']:.1f} s): peer/ceiling {s['ceiling_ratio']:.2f}x [{clo:.2f}, {chi:.2f}]; "
                     f"ours' ratio is {s['ratio'] / s['ceiling_ratio']:.0%} of it")
    for arm in ARMS:
        parts = ", ".join(f"{k[:-2]} {v:.0%}" for k, v in s[arm]["breakdown_share"].items())
        lines.append(f"{arm} time: {parts}")
    p = s["peer"]
    lines.append(f"base rate measured in this run (the peer's random trials reaching the target): "
                 f"{p['trials_reaching']}; from the curves: {results.get('base_rate', '?')}")
    lines.append(shared_line(results))
    lines.append(f"peer launch-to-fit by part (s, all trials): {p['startup_parts_s']}; decoding inside its "
                 f"{p.get('epochs_run', '?')} epochs ~{p.get('decode_estimate_s', '?')} s (decode-only pass rate)")
    return "\n".join(lines)


def shared_line(results: dict[str, Any]) -> str:
    """What both arms share, as recorded and checked by the run (older runs shared neither)."""
    shared = results.get("shared")
    if not shared:
        return "draws and split NOT shared: the peer drew its own random stream and used validation_split=0.1"
    rows = paired(results)
    checked = sum(r["ours"].get("shared", {}).get("startup_trials_checked", 0) for r in rows)
    split_ok = sum(r["ours"].get("shared", {}).get("split_id") == shared["split_id"] for r in rows)
    return (f"shared: the peer's trials are the engine's random draws for each seed, and ours' TPE start-up "
            f"trials ran the same configurations ({checked} trials checked equal over {len(rows)} seeds); one "
            f"validation split, {shared['split_id']} (val_fraction {shared['val_fraction']}, split seed "
            f"{shared['split_seed']}: {shared['fit_images']} fit, {shared['valid_images']} validation images), "
            f"checked equal to ours' manifest in {split_ok}/{len(rows)} seeds")


def _f(value) -> str:
    return "-" if value is None else f"{value:.1f}"
