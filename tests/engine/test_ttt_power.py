"""The time-to-target power check (benchmarks/ttt_power.py): simulated studies pass the bar exactly when the
resampled pairs clear it."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from ttt_power import oracle_pairs, passes, power  # noqa: E402


def test_a_study_passes_only_when_both_the_ratio_and_its_lower_bound_clear_the_bar():
    steady = [(10.0 + i, 4 * (10.0 + i)) for i in range(15)]  # peer 4x slower on every seed
    point, lo, ok = passes(steady)
    assert round(point, 6) == 4.0 and round(lo, 6) == 4.0 and ok
    mixed = [(10.0, 40.0)] * 8 + [(40.0, 10.0)] * 7  # a median of 4x that a resample flips
    point, lo, ok = passes(mixed)
    assert point == 4.0 and lo < 1.5 and not ok


def test_dividing_ours_times_scales_the_ratio_and_the_pass_share_rises():
    even = [(10.0, 10.0), (20.0, 25.0), (30.0, 24.0)]
    slow, fast = power(even, 15, 1.0, studies=20), power(even, 15, 4.0, studies=20)
    assert slow["pass_share"] == 0.0 and fast["pass_share"] == 1.0
    assert fast["median_ratio"] > 3.0 > slow["median_ratio"]


def test_the_ceiling_charges_only_the_peers_hitting_trial_from_its_launch_to_its_target_epoch():
    def trial(launched, reached=None):
        return {"launched_at": launched, "reached_at": reached}

    rows = [{"peer": {"time_to_target_s": 50.0,
                      "trials": [trial(100.0), trial(114.0, 126.5), trial(140.0, 150.0)]}},
            {"peer": {"time_to_target_s": 9.0, "trials": [trial(0.0, 9.0)]}}]
    assert oracle_pairs(rows) == [(12.5, 50.0), (9.0, 9.0)]


def test_the_geometric_mean_of_paired_ratios_and_its_interval():
    from ttt_stats import bootstrap_geomean

    assert [round(v, 9) for v in bootstrap_geomean([2.0] * 15)] == [2.0, 2.0, 2.0]
    point, lo, hi = bootstrap_geomean([1.0, 4.0] * 8)
    assert round(point, 9) == 2.0 and 1.0 <= lo < 2.0 < hi <= 4.0
