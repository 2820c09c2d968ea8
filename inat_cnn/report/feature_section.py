"""The HTML report's "Feature cache" section: per trial and phase, whether it trained on cached features.

Each trial's outcome lists one record per training phase (``features.phase.plan_phase``) and one for
its test pass: used (built by this trial, or reused), with the seconds it took to get the features
and their size on disk, and the other frozen-k cuts a build wrote in the same pass; or why not
(augmentation on, switched off, the cut too large, nothing frozen).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from . import html as h
from .records import SweepResult, TrialRecord

ANCHOR = "feature-cache"


def _size(n: Any) -> str:
    return f"{n / 1e6:.1f} MB" if isinstance(n, (int, float)) else "?"


def _cell(record: dict[str, Any]) -> str:
    """One phase of one trial, in a few words."""
    if not record.get("used"):
        return f"images: {record.get('reason') or 'no reason recorded'}"
    if record.get("phase") == "test":
        return f"cached features ({record.get('seconds', '?')} s)"
    how = "built" if record.get("built") else "reused"
    text = f"{how} in {record.get('build_s', '?')} s · {_size(record.get('bytes'))} {record.get('dtype', '')}".strip()
    others = record.get("also_built") or []
    if others:
        text += f" (+ the cut of k={', '.join(str(r.get('trainable_layers')) for r in others)} in the same pass)"
    elif not record.get("built") and (record.get("cuts_in_build") or 1) > 1:
        text += f" (one of {record['cuts_in_build']} cuts built in one pass)"
    return text


def _phases(trials: list[TrialRecord]) -> list[str]:
    seen: list[str] = []
    for trial in trials:
        for record in trial.outcome.feature_cache:
            if record.get("phase") not in seen:
                seen.append(record.get("phase"))
    return sorted(seen, key=lambda p: p == "test")  # training phases in their order, the test pass last


def _summary(trials: list[TrialRecord]) -> str:
    records = [r for t in trials for r in t.outcome.feature_cache if r.get("phase") != "test"]
    used = [r for r in records if r.get("used")]
    built = [r for r in used if r.get("built")]
    sizes = {r.get("key"): r.get("bytes") or 0 for r in used}
    build_s = sum(float(r.get("build_s") or 0) for r in built)
    why_not = Counter(r.get("reason") or "no reason recorded" for r in records if not r.get("used"))
    cuts = sum(1 + len(r.get("also_built") or []) for r in built)
    written = f" writing {cuts} cuts" if cuts > len(built) else ""
    line = (f"{len(used)} of {len(records)} training phases ran on cached frozen-prefix features: {len(built)} "
            f"cache builds{written} ({build_s:.1f} s in all), {len(used) - len(built)} reuses, {len(sizes)} "
            f"distinct caches ({_size(sum(sizes.values()))}).")
    if why_not:
        line += " On images: " + "; ".join(f"{reason} ({n})" for reason, n in why_not.most_common()) + "."
    return line


def feature_section(result: SweepResult) -> str:
    trials = [t for t in result.trials if t.outcome.feature_cache]
    if not trials:
        return h.section("Feature cache", h.note("No trial recorded whether it used the feature cache (trials "
                                                 "without a trial folder, or from before the cache)."),
                         anchor=ANCHOR)
    phases = _phases(trials)
    rows = []
    for trial in sorted(trials, key=lambda t: t.number):
        by_phase = {r.get("phase"): r for r in trial.outcome.feature_cache}
        rows.append([trial.name, *(_cell(by_phase[p]) if p in by_phase else "" for p in phases)])
    return h.section("Feature cache", h.note(_summary(trials)), h.table(["trial", *phases], rows), anchor=ANCHOR)
