"""W&B-style parameter importance: a planted strong parameter ranks first."""

from __future__ import annotations

import numpy as np
import pytest

from inat_cnn.report.importance import by_parameter, feature_matrix, parameter_importance


def _synthetic_sweep(n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(n):
        row = {"learning_rate": float(10 ** rng.uniform(-4, -1)), "dropout": float(rng.uniform(0, 0.5)),
               "optimizer": str(rng.choice(["adam", "sgd", "rmsprop"])), "augment": bool(rng.integers(0, 2)),
               "filters": int(rng.choice([16, 32, 64]))}
        rows.append(row)
    return rows, rng


def test_planted_numeric_parameter_ranks_first():
    rows, rng = _synthetic_sweep()
    values = [0.3 + 0.8 * r["dropout"] + rng.normal(0, 0.01) for r in rows]  # dropout drives the metric
    result = parameter_importance(rows, values, ["learning_rate", "dropout", "optimizer", "augment", "filters"])
    assert result[0].name == "dropout"
    assert result[0].importance > 0.6 and result[0].correlation > 0.95
    assert sum(r.importance for r in result) == pytest.approx(1.0)


def test_planted_categorical_parameter_ranks_first_after_one_hot():
    rows, rng = _synthetic_sweep(seed=1)
    values = [0.4 + (0.3 if r["optimizer"] == "sgd" else 0.0) + rng.normal(0, 0.01) for r in rows]
    result = parameter_importance(rows, values, ["learning_rate", "dropout", "optimizer", "augment", "filters"])
    assert result[0].name == "optimizer=sgd" and result[0].correlation > 0.9
    assert next(iter(by_parameter(result))) == "optimizer"


def test_feature_matrix_encodes_numbers_booleans_and_categories():
    rows = [{"lr": 0.1, "opt": "adam", "aug": True}, {"lr": None, "opt": "sgd", "aug": False},
            {"lr": 0.3, "opt": None, "aug": True}]
    matrix, columns = feature_matrix(rows, ["lr", "opt", "aug"])
    assert [c[0] for c in columns] == ["lr", "opt=None", "opt=adam", "opt=sgd", "aug"]
    np.testing.assert_allclose(matrix[:, 0], [0.1, 0.2, 0.3])  # missing number -> column mean
    np.testing.assert_allclose(matrix[:, 1:4], [[0, 1, 0], [0, 0, 1], [1, 0, 0]])
    np.testing.assert_allclose(matrix[:, 4], [1, 0, 1])


def test_too_few_trials_or_flat_metric():
    assert parameter_importance([{"a": 1}, {"a": 2}], [0.1, 0.2], ["a"]) == []
    flat = parameter_importance([{"a": i} for i in range(5)], [0.5] * 5, ["a"])
    assert [(r.importance, r.correlation) for r in flat] == [(0.0, None)]
