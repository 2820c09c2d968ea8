"""Helpers of the training tests: the tiny trial config (offline wandb runs are read by tests/wandb_files.py)."""

TINY_SCRATCH = {"model": "scratch", "image_size": 24, "conv_blocks": 2, "filters": 4, "dense_units": 8,
                "batch_size": 8, "epochs": 1, "viz": False}
