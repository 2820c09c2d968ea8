"""Our validator agrees with W&B's own sweep schema (vendored from `sweeps` 0.3.0), both ways.

Each case is checked against W&B's verdict (the schema through `jsonschema`, plus the checks W&B
makes in Python: wandb_reference.py) and against ours, from a YAML file. Where W&B refuses, we refuse
with file:line and key path; where W&B accepts, we accept, except the cases in PROJECT_REASONS,
refused with that reason in the message.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from wandb_reference import wandb_violations

from inat_cnn.errors import UserError
from inat_cnn.spec import load_sweep, validate_sweep_dict
from inat_cnn.spec.parameter_spec import PARAM_KEYS
from inat_cnn.spec.sweep_spec import SweepSpec
from inat_cnn.spec.wandb_schema import (
    DEPRECATED,
    NESTED,
    SCHEMA_PATH,
    SWEEPS_VERSION,
    load_schema,
    parameter_shapes,
    top_level_keys,
)

METRIC = {"name": "val_accuracy", "goal": "maximize"}
BASE = {"method": "random", "metric": METRIC, "parameters": {"model": {"value": "scratch"}}}
HB = {"type": "hyperband", "min_iter": 2}
SWEEPS = sorted((Path(__file__).parents[2] / "sweeps").glob("*.yaml"))


def top(**keys):
    return {**BASE, **keys}


def param(name, spec, **keys):
    return {**BASE, **keys, "parameters": {**BASE["parameters"], name: spec}}


#: One valid instance of every W&B parameter shape, on a parameter whose domain it fits.
MINIMAL = {
    "constant": ("dropout", {"value": 0.2}),
    "categorical": ("dropout", {"values": [0.1, 0.2]}),
    "categorical_w_probabilities": ("dropout", {"values": [0.1, 0.2], "probabilities": [0.3, 0.7]}),
    "int_uniform": ("dense_units", {"min": 32, "max": 64}),
    "uniform": ("dropout", {"min": 0.1, "max": 0.4}),
    "q_uniform": ("batch_size", {"min": 16, "max": 64, "q": 16}),
    "log_uniform_values": ("learning_rate", {"min": 1e-4, "max": 1e-2}),
    "q_log_uniform_values": ("learning_rate", {"min": 1e-4, "max": 1e-2, "q": 1e-4}),
    "inv_log_uniform_values": ("learning_rate", {"min": 1e-4, "max": 1e-2}),
    "log_uniform": ("learning_rate", {"min": -9.0, "max": -4.0}),
    "inv_log_uniform": ("learning_rate", {"min": -9.0, "max": -4.0}),
    "q_log_uniform": ("learning_rate", {"min": -9.0, "max": -4.0, "q": 1.0}),
    "normal": ("learning_rate", {"mu": 0.01, "sigma": 0.001}),
    "log_normal": ("learning_rate", {"mu": -5.0, "sigma": 1.0}),
    "q_normal": ("dense_units", {"mu": 256, "sigma": 32, "q": 8}),
    "q_log_normal": ("dense_units", {"mu": 5.0, "sigma": 1.0, "q": 8}),
    "beta": ("dropout", {"a": 2.0, "b": 5.0}),
    "q_beta": ("dropout", {"a": 2.0, "b": 5.0, "q": 0.05}),
    NESTED: ("dropout", {"parameters": {"rate": {"value": 0.2}}}),
}
#: A well-typed value for each key, to add where a shape does not take it.
KEY_VALUES = {"value": 0.2, "values": [0.2], "probabilities": [1.0], "min": 0.1, "max": 0.3, "mu": 0.0,
              "sigma": 1.0, "q": 0.1, "a": 1.0, "b": 1.0, "parameters": {"rate": {"value": 0.2}}}


def _shape_cases():
    cases = []
    for shape, (name, spec) in MINIMAL.items():
        spec = spec if shape == NESTED else {"distribution": shape, **spec}
        cases.append((f"{shape}", param(name, spec), shape not in DEPRECATED))
        for key in PARAM_KEYS:
            if key != "distribution" and key not in parameter_shapes()[shape].keys:
                cases.append((f"{shape}+{key}", param(name, {**spec, key: KEY_VALUES[key]}), False))
    return cases


HANDWRITTEN = [
    # --- W&B accepts
    ("categorical_implicit", param("dropout", {"values": [0.1, 0.2]}), True),
    ("probabilities_implicit", param("dropout", {"values": [0.1, 0.2], "probabilities": [0.5, 0.5]}), True),
    ("probabilities_numpy_tolerance", param("dropout", {"values": [0.1, 0.2], "probabilities": [0.5, 0.500004]}),
     True),
    ("int_uniform_implicit", param("dense_units", {"min": 32, "max": 64}), True),
    ("uniform_implicit_mixed", param("dropout", {"min": 0, "max": 0.5}), True),
    ("q_uniform_without_q", param("batch_size", {"distribution": "q_uniform", "min": 16, "max": 64}), True),
    ("value_list", param("kernel_size", {"value": [3, 3, 5, 5, 7]}), True),
    ("metric_impute", top(metric={**METRIC, "impute": "best", "impute_while_running": "latest"}), True),
    ("metric_impute_false", top(metric={**METRIC, "impute_while_running": "false"}), True),
    ("metric_target", top(metric={**METRIC, "target": 0.9}), True),
    ("controller_local", top(controller={"type": "local"}), True),
    ("controller_cloud_extra", top(controller={"type": "cloud", "anything": 1}), True),
    ("command_non_string", top(command=["inat-cnn", "train", "--epochs", 3, "--augment", True, "${args}"]), True),
    ("command_macros", top(command=["${env}", "inat-cnn", "train", "--metric=val_accuracy", "${args}"]), True),
    ("api_version_kind", top(apiVersion="v1", kind="sweep"), True),
    ("descriptive_keys", top(name="n", description="d", program="train.py", project="p", entity="e"), True),
    ("run_cap", top(run_cap=5), True),
    ("run_cap_integral_float", top(run_cap=5.0), True),
    ("hyperband_min_iter", top(early_terminate={**HB, "eta": 2, "strict": True}), True),
    ("hyperband_max_iter_s", top(early_terminate={"type": "hyperband", "max_iter": 27, "s": 2}), True),
    ("grid_int_uniform", {**param("dense_units", {"min": 32, "max": 34}), "method": "grid"}, True),
    ("grid_q_uniform", {**param("batch_size", {"distribution": "q_uniform", "min": 16, "max": 64, "q": 16}),
                        "method": "grid"}, True),
    ("bayes_without_metric", {"method": "bayes", "parameters": BASE["parameters"]}, True),
    ("hyperband_without_metric", {"method": "random", "parameters": BASE["parameters"], "early_terminate": HB},
     True),
    ("grid_uniform", {**param("dropout", {"min": 0.1, "max": 0.4}), "method": "grid"}, True),
    ("grid_probabilities", {**param("dropout", {"values": [0.1, 0.2], "probabilities": [0.5, 0.5]}),
                            "method": "grid"}, True),
    ("method_custom", top(method="custom"), True),
    ("scheduler", top(method="custom", scheduler={"engine": "optuna", "source": "s.py"}), True),
    ("metrics_custom", {"method": "custom", "parameters": BASE["parameters"], "metrics": [METRIC, {"name": "loss"}]},
     True),
    ("job", top(job="entity/project/job:v0"), True),
    ("image_uri", top(image_uri="docker.io/x/y:1"), True),
    ("sigma_zero", param("learning_rate", {"distribution": "normal", "mu": 0.01, "sigma": 0}), True),
    ("beta_a_zero", param("dropout", {"distribution": "beta", "a": 0, "b": 1.0}), True),
    ("hyperband_s_fraction", top(early_terminate={"type": "hyperband", "max_iter": 27, "s": 2.5}), True),
    ("hyperband_s_zero", top(early_terminate={"type": "hyperband", "max_iter": 27, "s": 0}), True),
    ("hyperband_max_iter_zero", top(early_terminate={"type": "hyperband", "max_iter": 0, "s": 1}), True),
    ("hyperband_max_iter_without_s", top(early_terminate={**HB, "max_iter": 27}), True),
    ("hyperband_no_bracket", top(early_terminate={"type": "hyperband", "max_iter": 2, "s": 2, "eta": 3}), True),
    ("metric_not_logged", top(metric={"name": "f1"}), True),
    ("parameter_not_in_vocabulary", param("momentum", {"value": 0.9}), True),
    ("no_model", {"method": "random", "parameters": {"dropout": {"value": 0.2}}}, True),
    ("value_null", param("dropout", {"value": None}), True),
    ("command_null_element", top(command=["inat-cnn", None]), True),
    ("command_list_element", top(command=["inat-cnn", ["a"]]), True),
    # --- W&B refuses
    ("value_and_values", param("dropout", {"value": 0.2, "values": [0.2]}), False),
    ("values_and_range", param("dropout", {"values": [0.2], "min": 0.1, "max": 0.3}), False),
    ("values_empty", param("dropout", {"values": []}), False),
    ("probabilities_without_values", param("dropout", {"probabilities": [1.0]}), False),
    ("probabilities_length", param("dropout", {"values": [0.1, 0.2], "probabilities": [1.0]}), False),
    ("probabilities_sum", param("dropout", {"values": [0.1, 0.2], "probabilities": [0.5, 0.6]}), False),
    ("probabilities_negative", param("dropout", {"values": [0.1, 0.2], "probabilities": [-0.5, 1.5]}), False),
    ("probabilities_text", param("dropout", {"values": [0.1], "probabilities": ["1"]}), False),
    ("min_not_below_max", param("dropout", {"min": 0.4, "max": 0.1}), False),
    ("int_uniform_fraction", param("dense_units", {"distribution": "int_uniform", "min": 32.5, "max": 64}), False),
    ("int_uniform_integral_float", param("dense_units", {"distribution": "int_uniform", "min": 32.0, "max": 64}),
     False),
    ("min_text", param("learning_rate", {"distribution": "log_uniform_values", "min": "1e-4", "max": 0.1}), False),
    ("min_bool", param("dense_units", {"min": True, "max": 64}), False),
    ("min_null", param("dropout", {"min": None, "max": 0.3}), False),
    ("min_only", param("dropout", {"min": 0.1}), False),
    ("q_zero", param("batch_size", {"distribution": "q_uniform", "min": 16, "max": 64, "q": 0}), False),
    ("q_null", param("batch_size", {"distribution": "q_uniform", "min": 16, "max": 64, "q": None}), False),
    ("sigma_negative", param("learning_rate", {"distribution": "normal", "sigma": -1}), False),
    ("log_values_min_zero", param("learning_rate", {"distribution": "log_uniform_values", "min": 0, "max": 1}),
     False),
    ("constant_without_value", param("dropout", {"distribution": "constant"}), False),
    ("normal_without_distribution", param("learning_rate", {"mu": 0.0, "sigma": 1.0}), False),
    ("unknown_distribution", param("dropout", {"distribution": "lognormal", "min": 0.1, "max": 0.3}), False),
    ("unknown_parameter_key", param("dropout", {"vals": [0.1]}), False),
    ("parameter_list", param("dropout", [0.1, 0.2]), False),
    ("parameter_scalar", param("dropout", 0.2), False),
    ("parameter_name_digit", param("1dropout", {"value": 0.2}), False),
    ("parameter_name_space", param("drop out", {"value": 0.2}), False),
    ("nested_with_distribution", param("dropout", {"distribution": "constant", "parameters": {"a": {"value": 1}}}),
     False),
    ("nested_empty", param("dropout", {"parameters": {}}), False),
    ("nested_bad_child", param("dropout", {"parameters": {"a": {"distribution": "uniform", "min": 0, "max": 1,
                                                                  "q": 1}}}), False),
    ("parameters_empty", top(parameters={}), False),
    ("parameters_missing", {"method": "random"}, False),
    ("parameters_list", top(parameters=[{"model": "scratch"}]), False),
    ("method_missing", {"parameters": BASE["parameters"]}, False),
    ("method_unknown", top(method="hyper"), False),
    ("method_null", top(method=None), False),
    ("metric_without_name", top(metric={"goal": "maximize"}), False),
    ("metric_goal", top(metric={"name": "val_accuracy", "goal": "up"}), False),
    ("metric_target_text", top(metric={**METRIC, "target": "high"}), False),
    ("metric_target_bool", top(metric={**METRIC, "target": True}), False),
    ("metric_impute_unknown", top(metric={**METRIC, "impute": "mean"}), False),
    ("metric_impute_while_running_bool", top(metric={**METRIC, "impute_while_running": False}), False),
    ("metric_unknown_key", top(metric={**METRIC, "direction": "up"}), False),
    ("metric_null", top(metric=None), False),
    ("metric_list", top(metric=["val_accuracy"]), False),
    ("early_terminate_type", top(early_terminate={"type": "median"}), False),
    ("hyperband_without_bracket", top(early_terminate={"type": "hyperband", "eta": 3}), False),
    ("hyperband_eta_one", top(early_terminate={**HB, "eta": 1}), False),
    ("hyperband_strict_text", top(early_terminate={**HB, "strict": "yes"}), False),
    ("hyperband_min_iter_zero", top(early_terminate={"type": "hyperband", "min_iter": 0}), False),
    ("hyperband_max_iter_fraction", top(early_terminate={"type": "hyperband", "max_iter": 2.5, "s": 1}), False),
    ("hyperband_unknown_key", top(early_terminate={**HB, "brackets": 3}), False),
    ("run_cap_zero", top(run_cap=0), False),
    ("run_cap_negative", top(run_cap=-1), False),
    ("run_cap_bool", top(run_cap=True), False),
    ("run_cap_fraction", top(run_cap=2.5), False),
    ("run_cap_text", top(run_cap="5"), False),
    ("unknown_top_key", top(foo=1), False),
    ("name_number", top(name=3), False),
    ("description_null", top(description=None), False),
    ("command_text", top(command="python train.py"), False),
    ("program_number", top(program=1), False),
    ("controller_type", top(controller={"type": "remote"}), False),
    ("controller_without_type", top(controller={}), False),
    ("kind_unknown", top(kind="job"), False),
    ("api_version_number", top(apiVersion=1), False),
    ("metrics_without_custom", {"method": "random", "parameters": BASE["parameters"],
                                "metrics": [METRIC, {"name": "loss"}]}, False),
    ("metric_and_metrics", top(method="custom", metrics=[METRIC, {"name": "loss"}]), False),
]
CASES = _shape_cases() + HANDWRITTEN

#: W&B accepts these; we refuse them, and the message says why (this fragment).
PROJECT_REASONS = {
    "normal": "is not supported for `learning_rate`, whose values are bounded",
    "log_normal": "is not supported for `learning_rate`, whose values are bounded",
    "q_normal": "is not supported for `dense_units`, whose values are bounded",
    "q_log_normal": "is not supported for `dense_units`, whose values are bounded",
    "beta": "is not supported for `dropout`, whose values are bounded",
    "q_beta": "is not supported for `dropout`, whose values are bounded",
    NESTED: "takes plain values, not nested parameters",
    "bayes_without_metric": "W&B's bayes cannot run without one",
    "hyperband_without_metric": "hyperband ranks runs by it",
    "grid_uniform": "all W&B's grid enumerates",
    "grid_probabilities": "W&B's grid refuses `probabilities`",
    "method_custom": "this project does not drive",
    "scheduler": "this project does not drive",
    "metrics_custom": "this project does not drive",
    "job": "every trial runs `inat-cnn train`",
    "image_uri": "every trial runs `inat-cnn train`",
    "sigma_zero": "W&B's sampler draws NaN for sigma 0",
    "beta_a_zero": "W&B's beta sampler draws NaN for a = 0",
    "hyperband_s_fraction": "its hyperband counts brackets with range(s)",
    "hyperband_s_zero": "its hyperband counts brackets with range(s)",
    "hyperband_max_iter_zero": "its hyperband then has no bracket",
    "hyperband_max_iter_without_s": "W&B's hyperband reads s whenever max_iter is given",
    "hyperband_no_bracket": "leaves W&B's hyperband no bracket",
    "metric_not_logged": "is not logged by trials",
    "parameter_not_in_vocabulary": "unknown parameter `momentum`",
    "no_model": "missing the `model` parameter",
    "value_null": "dropout",
    "command_null_element": "the agent passes str() of each element",
    "command_list_element": "the agent passes str() of each element",
}


def _ours(config, tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    try:
        load_sweep(path)
    except UserError as err:
        return path, err
    return path, None


def test_the_schema_is_vendored_with_its_licence_and_version():
    folder = SCHEMA_PATH.parent
    assert load_schema()["title"] == "SweepConfig"
    assert "MIT License" in (folder / "LICENSE").read_text()
    assert SWEEPS_VERSION in (folder / "README.md").read_text()


def test_the_corpus_labels_are_w_and_b_s_verdicts():
    """Each case's expected verdict is what W&B's schema (plus its Python checks) says."""
    wrong = {case: violations for case, config, valid in CASES
             if bool(violations := wandb_violations(config)) == valid}
    assert not wrong
    assert set(PROJECT_REASONS) <= {case for case, _, valid in CASES if valid}


@pytest.mark.parametrize("config", [c for _, c, _ in CASES], ids=[case for case, _, _ in CASES])
def test_our_validator_agrees_with_w_and_b(config, tmp_path, request):
    case = request.node.callspec.id
    valid = not wandb_violations(config)
    path, err = _ours(config, tmp_path)
    if valid and case not in PROJECT_REASONS:
        assert err is None, f"W&B accepts {case}, we refuse: {err}"
        return
    assert err is not None, f"{case}: W&B refuses or we have a reason to, but we accept"
    message = str(err)
    assert str(path) in message
    assert all(p.file == str(path) and p.line is not None and p.key_path for p in err.problems), err.problems
    if case in PROJECT_REASONS:
        assert PROJECT_REASONS[case] in message


def test_every_schema_shape_and_top_level_key_is_covered():
    assert {shape for shape, *_ in CASES} >= set(parameter_shapes())
    assert set(top_level_keys()) <= set(SweepSpec.model_fields)  # known: accepted, or refused with a reason


def test_wrong_key_for_a_distribution_is_located_at_that_key(tmp_path):
    path, err = _ours(param("dropout", {"distribution": "uniform", "min": 0.1, "max": 0.3, "q": 0.1}), tmp_path)
    (problem,) = err.problems
    assert problem.key_path == "parameters.dropout.q" and "q_uniform" in problem.message
    assert "q: 0.1" in path.read_text().splitlines()[problem.line - 1]


@pytest.mark.parametrize("path", SWEEPS, ids=[p.stem for p in SWEEPS])
def test_every_shipped_sweep_is_valid_for_w_and_b(path):
    assert wandb_violations(yaml.safe_load(path.read_text())) == []


def test_a_block_command_with_macros_validates_for_both(tmp_path):
    path = tmp_path / "with_command.yaml"
    path.write_text("method: random\ncommand:\n  - ${env}\n  - inat-cnn\n  - train\n  - --metric=val_accuracy\n"
                    "  - ${args}\nparameters:\n  model: {value: scratch}\n")
    assert wandb_violations(yaml.safe_load(path.read_text())) == []
    assert load_sweep(path).spec.to_wandb()["command"] == ["${env}", "inat-cnn", "train", "--metric=val_accuracy",
                                                            "${args}"]


def test_a_flow_list_of_macros_gets_a_hint(tmp_path):
    path = tmp_path / "flow.yaml"
    path.write_text("method: random\ncommand: [${env}, inat-cnn, ${args}]\nparameters:\n  model: {value: scratch}\n")
    with pytest.raises(UserError) as info:
        load_sweep(path)
    assert f"{path}:2" in str(info.value) and "block" in str(info.value)


def test_a_grid_counts_what_w_and_b_enumerates():
    config = {**param("dense_units", {"min": 32, "max": 34}), "method": "grid"}
    config["parameters"]["batch_size"] = {"distribution": "q_uniform", "min": 16, "max": 64, "q": 16}
    spec = validate_sweep_dict(config).spec
    assert spec.parameters["dense_units"].grid_choices() == [32, 33, 34]  # W&B: range(min, max + 1)
    assert spec.parameters["batch_size"].grid_choices() == np.arange(16, 64, 16).tolist() == [16, 32, 48]
    assert spec.grid_size() == 9
