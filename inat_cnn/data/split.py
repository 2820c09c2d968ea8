"""Pure split logic: a class-balanced hold-out carved from labelled items.

Every class gives the same number of items to the hold-out (``fraction`` of the
mean class size, at least 1), as the CS6910 report asks for the validation set.
The choice inside each class is scikit-learn's ``train_test_split`` with a seed
derived from (seed, class), so it is identical in every process.
"""

from __future__ import annotations

from collections import Counter

from ..errors import UserError


def check_fraction(fraction: float) -> None:
    if not 0.0 < float(fraction) < 1.0:
        raise UserError(f"val_fraction must be between 0 and 1 (exclusive), got {fraction}")


def holdout_per_class(counts: dict[int, int], fraction: float) -> int:
    """How many items each class gives to a hold-out of about ``fraction`` of all items."""
    check_fraction(fraction)
    total = sum(counts.values())
    return max(1, round(fraction * total / max(1, len(counts))))


def check_enough(counts: dict[int, int], class_names: list[str], need: int, where: str) -> None:
    """UserError naming every class with fewer than ``need`` usable images."""
    short = [f"{class_names[c]} ({counts.get(c, 0)})" for c in range(len(class_names)) if counts.get(c, 0) < need]
    if short:
        raise UserError(
            f"{where}: every class needs at least {need} usable images (one per split); "
            f"too few in: {', '.join(short)}"
        )


def balanced_holdout(
    items: list[tuple[str, int]], fraction: float, seed: int
) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Split (path, label) items into (kept, held_out); both sorted by (label, path).

    Each class holds out the same count k, capped so that one item per class stays kept.
    """
    from sklearn.model_selection import train_test_split

    by_class: dict[int, list[str]] = {}
    for path, label in sorted(items, key=lambda it: (it[1], it[0])):
        by_class.setdefault(label, []).append(path)
    k = holdout_per_class(Counter({c: len(p) for c, p in by_class.items()}), fraction)
    kept, held = [], []
    for label, paths in sorted(by_class.items()):
        n_out = min(k, len(paths) - 1)
        if n_out < 1:
            kept.extend((p, label) for p in paths)
            continue
        rest, out = train_test_split(paths, test_size=n_out, random_state=(seed * 1_000_003 + label) % 2**32)
        kept.extend((p, label) for p in sorted(rest))
        held.extend((p, label) for p in sorted(out))
    return kept, held
