"""Aggregation fitted on validation: greedy selection with replacement, stacking = sklearn's predict_proba."""

from __future__ import annotations

import numpy as np
import pytest

from inat_cnn.ensembles import aggregate


def _members(rng, n_images=60, classes=3, quality=(0.9, 0.5, 0.34)):
    labels = rng.integers(0, classes, n_images)
    probs = []
    for q in quality:  # member i puts mass q on the true class of a random share of the images
        p = rng.dirichlet(np.ones(classes), n_images)
        right = rng.random(n_images) < q
        p[right] = 0.05 / (classes - 1)
        p[right, labels[right]] = 0.95
        probs.append(p)
    return np.stack(probs), labels


def test_greedy_selection_weights_the_good_member_and_beats_the_plain_mean():
    probs, labels = _members(np.random.default_rng(0))
    weights = aggregate.greedy_weights(probs, labels, rounds=20)
    assert weights.sum() == pytest.approx(1.0) and weights[0] == weights.max() and weights[0] > 0.5
    assert np.allclose(weights * 20, np.round(weights * 20))  # picks counted with replacement
    assert aggregate.log_loss(aggregate.weighted(probs, weights), labels) < \
        aggregate.log_loss(probs.mean(axis=0), labels)


@pytest.mark.parametrize("classes", [2, 4])
def test_stacker_reproduces_sklearn_predict_proba(classes):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(classes)
    probs, labels = _members(rng, n_images=80, classes=classes, quality=(0.8, 0.6))
    coef, intercept = aggregate.fit_stacker(probs, labels, classes)
    reference = LogisticRegression(max_iter=2000).fit(aggregate.stack_features(probs), labels)
    fresh, _ = _members(np.random.default_rng(99), n_images=30, classes=classes, quality=(0.8, 0.6))
    np.testing.assert_allclose(aggregate.stacked(fresh, coef, intercept),
                               reference.predict_proba(aggregate.stack_features(fresh)), atol=1e-9)


def test_stacker_never_predicts_a_class_missing_from_validation():
    probs, labels = _members(np.random.default_rng(3), classes=4)
    keep = labels != 2
    coef, intercept = aggregate.fit_stacker(probs[:, keep], labels[keep], 4)
    assert (aggregate.stacked(probs, coef, intercept)[:, 2] < 1e-9).all()
