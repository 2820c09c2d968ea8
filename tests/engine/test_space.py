"""W&B spec → Optuna space, sampler and pruner: built from plain dicts."""

import optuna
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from inat_cnn.engine.space import (
    decode_choice,
    encode_choice,
    local_support_problems,
    make_sampler,
    search_space,
    trial_parameters,
)
from inat_cnn.spec import validate_sweep_dict


def spec(method="random", early_terminate=None, metric=None, **params):
    data = {"method": method, "parameters": {"model": {"value": "scratch"}, **params}}
    if early_terminate:
        data["early_terminate"] = early_terminate
    if metric or early_terminate or method == "bayes":
        data["metric"] = metric or {"name": "val_accuracy", "goal": "maximize"}
    return validate_sweep_dict(data).spec


def test_distributions_map_to_optuna():
    s = spec(dense_units={"min": 32, "max": 64}, dropout={"min": 0.1, "max": 0.4},
             learning_rate={"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
             weight_decay={"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-3},
             batch_size={"distribution": "q_uniform", "min": 16, "max": 64, "q": 16},
             kernel_size={"values": [3, [5, 5, 3, 3, 3]]}, epochs={"value": 2})
    space = search_space(s)
    assert space["dense_units"] == IntDistribution(32, 64)
    assert space["dropout"] == FloatDistribution(0.1, 0.4)
    assert space["learning_rate"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert space["weight_decay"] == FloatDistribution(1e-5, 1e-3, log=True)
    assert space["batch_size"] == IntDistribution(16, 64, step=16)
    assert space["kernel_size"] == CategoricalDistribution([3, "[5, 5, 3, 3, 3]"])
    assert "epochs" not in space and "model" not in space


def test_list_choices_round_trip_through_optuna_storage():
    assert decode_choice(encode_choice([5, 3])) == [5, 3]
    assert decode_choice("relu") == "relu"
    s = spec(kernel_size={"values": [[5, 5, 3, 3, 3]]}, epochs={"value": 2})
    params = trial_parameters(s, {"kernel_size": "[5, 5, 3, 3, 3]"})
    assert params == {"model": "scratch", "epochs": 2, "kernel_size": [5, 5, 3, 3, 3]}


def test_unsupported_features_are_errors_at_create():
    s = spec(dropout={"values": [0.1, 0.2], "probabilities": [0.3, 0.7]},
             learning_rate={"distribution": "q_log_uniform_values", "min": 1e-4, "max": 1e-2})
    problems = {p.key_path: p.message for p in local_support_problems(s)}
    assert "probabilities" in problems["parameters.dropout.probabilities"]
    assert "q_log_uniform_values" in problems["parameters.learning_rate.distribution"]
    hb = spec(early_terminate={"type": "hyperband", "min_iter": 1},
              metric={"name": "test_accuracy", "goal": "maximize"})
    assert any(p.key_path == "metric.name" for p in local_support_problems(hb))


def test_samplers():  # the pruner: tests/engine/test_pruning.py
    assert isinstance(make_sampler(spec("grid", filters={"values": [8, 16]})), optuna.samplers.GridSampler)
    assert isinstance(make_sampler(spec("random")), optuna.samplers.RandomSampler)
    assert isinstance(make_sampler(spec("bayes", dropout={"min": 0.0, "max": 0.5})), optuna.samplers.TPESampler)


def test_what_w_and_b_accepts_but_optuna_cannot_honour_is_refused_at_create_naming_the_key():
    grid = spec("grid", dense_units={"min": 32, "max": 34})
    problems = {p.key_path: p.message for p in local_support_problems(grid)}
    assert "values: [32, 33, 34]" in problems["parameters.dense_units"]
    assert "--backend wandb" in problems["parameters.dense_units"]
    weighted = spec(dropout={"distribution": "categorical_w_probabilities", "values": [0.1, 0.2],
                             "probabilities": [0.5, 0.5]})
    assert [p.key_path for p in local_support_problems(weighted)] == ["parameters.dropout.probabilities"]
    bayes = spec("bayes", metric={"name": "val_accuracy", "goal": "maximize", "impute": "best",
                                  "impute_while_running": "latest"}, dropout={"min": 0.0, "max": 0.5})
    problems = {p.key_path: p.message for p in local_support_problems(bayes)}
    assert "--backend wandb" in problems["metric.impute"] and "TPE" in problems["metric.impute_while_running"]
    # the same keys mean nothing to random search, and "false" is what the local engine does anyway
    assert local_support_problems(spec("random", metric={"name": "val_accuracy", "impute": "best"})) == []
    quiet = spec("bayes", metric={"name": "val_accuracy", "impute_while_running": "false"}, dropout={"value": 0.2})
    assert local_support_problems(quiet) == []


def test_w_and_b_keys_the_local_engine_ignores_create_a_sweep():
    s = validate_sweep_dict({"method": "random", "controller": {"type": "local"}, "apiVersion": "v1",
                             "command": ["${env}", "inat-cnn", "train", "--epochs", 2, "${args}"],
                             "parameters": {"model": {"value": "scratch"}}}).spec
    assert local_support_problems(s) == []
