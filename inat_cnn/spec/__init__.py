"""Sweep specs: W&B sweep YAML → validated SweepSpec (no Keras; ``yaml_source`` reads the file, the rest
works on plain data)."""

from .sweep_spec import ParameterSpec, SweepSpec
from .validate import ValidatedSweep, load_sweep, validate_sweep_dict

__all__ = ["ParameterSpec", "SweepSpec", "ValidatedSweep", "load_sweep", "validate_sweep_dict"]
