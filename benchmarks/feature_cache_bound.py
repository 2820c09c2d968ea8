"""The most a frozen-prefix feature cache can save, from the model's own FLOP counts (no training).

For frozen-k, the cut splits the network into a frozen prefix (a fixed function of the image, computed once
with the cache) and a suffix that trains. Without the cache, a training epoch costs the prefix's forward pass
plus the suffix's forward and backward passes; with it, only the suffix's. Counting a backward pass as twice
its forward (gradients of the inputs and of the weights), the per-epoch bound on the speed-up is

    (F_prefix + 3 F_suffix) / (3 F_suffix)       (validation: (F_prefix + F_suffix) / F_suffix)

and a grid's bound is the ratio of the sums over its k. FLOPs are this project's analytic counts
(``inat_cnn.models.summarize_model``, per image at inference); the prefix is every layer before the first
trainable one in graph order, the head included in the suffix. Real kernels are not equally efficient
(a depthwise convolution at high resolution runs at a fraction of a dense one's FLOP rate on a CPU), so the
measured ratio can lie on either side of this bound; it says whether a target is within reach at all.

    .venv/bin/python benchmarks/feature_cache_bound.py --backbone mobilenet_v2 --image-size 96 --ks 0,5,10,20,40
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path


def split_flops(backbone: str, image_size: int, k: int) -> dict:
    """FLOPs per image of the frozen prefix and the training suffix of frozen-k (phase fine_tune)."""
    from inat_cnn.models import apply_phase, build_model, summarize_model
    from inat_cnn.models.layers import iter_leaf_layers
    from inat_cnn.trial_config import parse_trial_config

    config = parse_trial_config({"model": "finetune", "backbone": backbone, "weights": "none",
                                 "image_size": image_size, "trainable_layers": k, "augment": False})
    model = build_model(config, 10)
    apply_phase(model, config, "fine_tune" if k else "head")
    rows = summarize_model(model).rows
    trainable = {layer.name for layer, train, _ in iter_leaf_layers(model) if train and layer.trainable_weights}
    first = next(i for i, row in enumerate(rows) if row.name in trainable)
    prefix, suffix = sum(r.flops for r in rows[:first]), sum(r.flops for r in rows[first:])
    return {"k": k, "prefix_flops": prefix, "suffix_flops": suffix, "first_trainable": rows[first].name,
            "train_epoch_bound": round((prefix + 3 * suffix) / (3 * suffix), 2),
            "validation_bound": round((prefix + suffix) / suffix, 2)}


def grid_bound(rows: list[dict]) -> dict:
    """The grid's bounds: the ratio of the sums over its k."""
    prefix, suffix = sum(r["prefix_flops"] for r in rows), sum(r["suffix_flops"] for r in rows)
    return {"train_epoch_bound": round((prefix + 3 * suffix) / (3 * suffix), 2),
            "validation_bound": round((prefix + suffix) / suffix, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="mobilenet_v2")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--ks", default="0,5,10,20,40")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    rows = [split_flops(args.backbone, args.image_size, int(k)) for k in args.ks.split(",")]
    grid = grid_bound(rows)
    print(f"{args.backbone} {args.image_size} px: FLOPs per image (inference), per-epoch speed-up bound")
    print(f"{'k':>4} {'first trainable layer':<28} {'prefix MFLOPs':>14} {'suffix MFLOPs':>14} {'train':>7} {'val':>7}")
    for r in rows:
        prefix, suffix = r["prefix_flops"] / 1e6, r["suffix_flops"] / 1e6
        print(f"{r['k']:>4} {r['first_trainable']:<28} {prefix:>14.1f} {suffix:>14.1f}"
              f" {r['train_epoch_bound']:>6}x {r['validation_bound']:>6}x")
    print(f"grid ({args.ks}): training epochs {grid['train_epoch_bound']}x, validation {grid['validation_bound']}x")
    if args.out:
        args.out.write_text(json.dumps({"backbone": args.backbone, "image_size": args.image_size, "rows": rows,
                                        "grid": grid}, indent=2) + "\n")


if __name__ == "__main__":
    main()
