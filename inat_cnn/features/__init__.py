"""Frozen-prefix feature cache: the cut (cut.py), the on-disk cache (cache.py), the suffix's batches and
callbacks (suffix.py), the per-phase decision (phase.py) and listing/pruning (store.py)."""
