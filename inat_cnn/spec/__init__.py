"""Sweep specs: W&B sweep YAML → validated SweepSpec (pure, no Keras)."""

from .sweep_spec import ParameterSpec, SweepSpec
from .validate import ValidatedSweep, load_sweep, validate_sweep_dict

__all__ = ["ParameterSpec", "SweepSpec", "ValidatedSweep", "load_sweep", "validate_sweep_dict"]
