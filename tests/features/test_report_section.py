"""The HTML report's feature-cache section: each trial's phases, used or why not, build time and size."""

from inat_cnn.outcome import TrialOutcome
from inat_cnn.report.records import SweepResult, TrialRecord

BUILT = {"phase": "fine_tune", "used": True, "key": "mobilenet_v2-96px-ab12-v1", "built": True, "build_s": 5.62,
         "bytes": 812_000, "dtype": "float16", "cut": ["block_16_project_BN:0:0:(3, 3, 320)"]}
REUSED = {**BUILT, "built": False, "build_s": 0.08}
TESTED = {"phase": "test", "used": True, "key": BUILT["key"], "dtype": "float16", "seconds": 0.21}
AUGMENTED = {"phase": "fine_tune", "used": False,
             "reason": "augmentation on (augment: True): the frozen prefix sees new images every epoch"}


def _result(*outcomes):
    trials = [TrialRecord(number=i, name=f"trial-{i:04d}", state="finished", params={}, value=0.5,
                          outcome=TrialOutcome(feature_cache=records)) for i, records in enumerate(outcomes)]
    return SweepResult("s", "local", "val_accuracy", "maximize", {}, trials, [])


def test_each_phase_says_whether_it_used_the_cache():
    from inat_cnn.report.feature_section import feature_section

    page = feature_section(_result((BUILT, TESTED), (REUSED, TESTED), (AUGMENTED,)))
    assert "built in 5.62 s · 0.8 MB float16" in page and "reused in 0.08 s" in page
    assert "cached features (0.21 s)" in page
    assert "images: augmentation on (augment: True)" in page
    assert ("2 of 3 training phases ran on cached frozen-prefix features: 1 cache builds (5.6 s in all), 1 reuses, "
            "1 distinct caches (0.8 MB)") in page
    assert page.index("<th>fine_tune</th>") < page.index("<th>test</th>")


def test_a_build_that_wrote_other_cuts_says_so():
    from inat_cnn.report.feature_section import feature_section

    shared = {**BUILT, "cuts_in_build": 3, "also_built": [{"trainable_layers": 5, "key": "k5"},
                                                          {"trainable_layers": 10, "key": "k10"}]}
    reused = {**REUSED, "key": "k5", "cuts_in_build": 3}
    page = feature_section(_result((shared, TESTED), (reused, TESTED)))
    assert "built in 5.62 s · 0.8 MB float16 (+ the cut of k=5, 10 in the same pass)" in page
    assert "reused in 0.08 s · 0.8 MB float16 (one of 3 cuts built in one pass)" in page
    assert "1 cache builds writing 3 cuts (5.6 s in all), 1 reuses, 2 distinct caches (1.6 MB)" in page


def test_the_report_page_has_the_section():
    from inat_cnn.report.dashboard import render_report

    page = render_report(_result((BUILT, TESTED)), {}, [])
    assert 'id="feature-cache"' in page and "built in 5.62 s" in page
