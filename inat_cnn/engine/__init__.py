"""Sweep engines: the embedded local engine (Optuna in RDB storage) and W&B cloud."""
