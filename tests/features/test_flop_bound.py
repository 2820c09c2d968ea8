"""The frozen-prefix cache's bound (benchmarks/feature_cache_bound.py): the prefix and suffix FLOPs of frozen-k
add up to the whole model's, the suffix grows with k, and the bound falls as it does."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from feature_cache_bound import grid_bound, split_flops  # noqa: E402

from inat_cnn.models import build_model, summarize_model
from inat_cnn.trial_config import parse_trial_config


def test_prefix_and_suffix_split_the_whole_models_flops_and_the_bound_falls_with_k():
    rows = [split_flops("mobilenet_v2", 32, k) for k in (0, 5, 40)]
    config = parse_trial_config({"model": "finetune", "backbone": "mobilenet_v2", "weights": "none",
                                 "image_size": 32, "augment": False})
    total = summarize_model(build_model(config, 10)).total_flops
    assert all(r["prefix_flops"] + r["suffix_flops"] == total for r in rows)
    assert rows[0]["first_trainable"] == "predictions"  # k = 0: only the head trains
    assert rows[0]["suffix_flops"] < rows[1]["suffix_flops"] < rows[2]["suffix_flops"]
    bounds = [r["train_epoch_bound"] for r in rows]
    assert bounds[0] > bounds[1] > bounds[2] > 1.0
    grid = grid_bound(rows)["train_epoch_bound"]
    assert bounds[2] < grid < bounds[1]  # the grid's sums sit between its k's
