"""Fitting the aggregation on the validation split: greedy ensemble selection and stacking (pure numpy/sklearn).

Inputs are the members' softmax outputs on the VALIDATION split, ``probs`` of shape (members, images,
classes), and its labels. Nothing here sees the test split: the export fits first and judges after.
"""

from __future__ import annotations

import numpy as np

#: Greedy rounds: members drawn with replacement (auto-sklearn's ``ensemble_size`` is 50).
GREEDY_ROUNDS = 25


def log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    picked = probs[np.arange(len(labels)), np.asarray(labels, dtype=int)]
    return float(-np.mean(np.log(np.clip(picked, 1e-7, 1.0))))


def accuracy(probs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(probs, axis=1) == np.asarray(labels, dtype=int))) if len(labels) else float("nan")


def greedy_weights(probs: np.ndarray, labels: np.ndarray, rounds: int = GREEDY_ROUNDS) -> np.ndarray:
    """Caruana et al. 2004, ensemble selection with replacement: start empty, and each round add the member
    (any, again or not) whose addition gives the lowest validation log loss of the running average; the
    weights are how often each member was picked, over ``rounds``. Ties go to the better-ranked member."""
    probs = np.asarray(probs, dtype="float64")
    counts = np.zeros(len(probs))
    running = np.zeros(probs.shape[1:])
    for step in range(1, rounds + 1):
        losses = [log_loss((running * (step - 1) + candidate) / step, labels) for candidate in probs]
        pick = int(np.argmin(losses))
        counts[pick] += 1
        running = (running * (step - 1) + probs[pick]) / step
    return counts / counts.sum()


def weighted(probs: np.ndarray, weights: np.ndarray) -> np.ndarray:
    return np.tensordot(np.asarray(weights, dtype="float64"), np.asarray(probs, dtype="float64"), axes=1)


def stack_features(probs: np.ndarray) -> np.ndarray:
    """(members, images, classes) -> (images, members * classes): member 0's classes first (the graph's order)."""
    probs = np.asarray(probs)
    return np.concatenate(list(probs), axis=1)


def fit_stacker(probs: np.ndarray, labels: np.ndarray, classes: int, c: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A multinomial logistic regression on the concatenated member probabilities: (coef (C, M*C), intercept (C,)).

    Returned for ``softmax(x @ coef.T + intercept)``, which equals sklearn's ``predict_proba``; a class
    absent from the validation labels gets a zero row and a very negative intercept (never predicted).
    """
    from sklearn.linear_model import LogisticRegression

    features = stack_features(probs)
    labels = np.asarray(labels, dtype=int)
    present = np.unique(labels)
    if len(present) < 2:
        raise ValueError("stacking needs at least two classes in the validation split")
    model = LogisticRegression(C=c, max_iter=2000).fit(features, labels)
    coef = np.zeros((classes, features.shape[1]))
    intercept = np.full(classes, -30.0)
    if len(model.classes_) == 2:  # sklearn's binary form: sigmoid(z) == softmax([0, z])[1]
        coef[model.classes_[1]] = model.coef_[0]
        intercept[model.classes_] = (0.0, model.intercept_[0])
    else:
        coef[model.classes_] = model.coef_
        intercept[model.classes_] = model.intercept_
    return coef, intercept


def stacked(probs: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    logits = stack_features(probs).astype("float64") @ np.asarray(coef).T + np.asarray(intercept)
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)
