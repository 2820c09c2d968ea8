"""Optimizers, learning-rate schedules and the loss (keras only, backend-agnostic)."""

from __future__ import annotations

import keras
from keras import ops

PIECEWISE_AT = (0.5, 0.75)  # piecewise: lr, lr/10, lr/100 at these fractions of the phase


def make_schedule(kind: str, learning_rate: float, total_steps: int, cycles: int = 1):
    """A float (constant) or a keras LearningRateSchedule over ``total_steps`` steps of one phase.

    ``snapshot``: ``cycles`` equal cosine cycles with warm restarts (Huang et al. 2017, snapshot ensembles).
    """
    total_steps = max(1, int(total_steps))
    if kind == "constant":
        return float(learning_rate)
    if kind == "cosine":
        return keras.optimizers.schedules.CosineDecay(float(learning_rate), decay_steps=total_steps)
    if kind == "snapshot":
        return keras.optimizers.schedules.CosineDecayRestarts(
            float(learning_rate), first_decay_steps=max(1, total_steps // max(1, int(cycles))), t_mul=1.0, m_mul=1.0)
    if kind == "piecewise":
        boundaries = sorted({max(1, int(total_steps * f)) for f in PIECEWISE_AT})
        values = [float(learning_rate) / 10**i for i in range(len(boundaries) + 1)]
        return keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    raise ValueError(f"unknown lr_schedule {kind!r}")


def step_schedule(boundaries: list[int], values: list[float], *, unit: str, first_step: int = 0,
                  steps_per_epoch: int = 1):
    """The explicit step schedule (``lr_schedule: step``) for a phase that starts at ``first_step``.

    Boundaries count from the start of training, in steps or epochs (× ``steps_per_epoch``); the
    optimizer of a later phase counts from 0, so its boundaries are shifted by ``first_step``.
    """
    scale = int(steps_per_epoch) if unit == "epochs" else 1
    at = [int(b) * scale - int(first_step) for b in boundaries]
    passed = sum(1 for b in at if b <= 0)
    at, values = at[passed:], [float(v) for v in values[passed:]]
    if not at:
        return values[-1]
    return keras.optimizers.schedules.PiecewiseConstantDecay(at, values)


def make_optimizer(name: str, learning_rate, weight_decay: float = 0.0) -> keras.optimizers.Optimizer:
    """adam, nadam, rmsprop, sgd (Nesterov momentum 0.9) or adamw; weight decay is decoupled."""
    wd = float(weight_decay) or None
    if name == "adam":
        return keras.optimizers.Adam(learning_rate, weight_decay=wd)
    if name == "nadam":
        return keras.optimizers.Nadam(learning_rate, weight_decay=wd)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(learning_rate, weight_decay=wd)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True, weight_decay=wd)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate, weight_decay=float(weight_decay))
    raise ValueError(f"unknown optimizer {name!r}")


def current_lr(optimizer: keras.optimizers.Optimizer) -> float:
    """The learning rate the optimizer applies at its current step."""
    return float(ops.convert_to_numpy(optimizer.learning_rate))


class SparseSmoothedCrossentropy(keras.losses.Loss):
    """Cross-entropy on integer labels with label smoothing (Keras' sparse loss has none); softmax inputs.

    A training device only, never registered with Keras: a saved model names ``saved_as()`` (Keras'
    own SparseCategoricalCrossentropy) in its compile config instead (``models.io.save_model``), so
    plain ``keras.saving.load_model`` loads it and ``evaluate`` reports the unsmoothed cross-entropy.
    """

    def __init__(self, num_classes: int, label_smoothing: float = 0.0, name: str = "sparse_smoothed_ce", **kw):
        super().__init__(name=name, **kw)
        self.num_classes = int(num_classes)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        labels = ops.one_hot(ops.cast(ops.reshape(y_true, (-1,)), "int32"), self.num_classes)
        return keras.losses.categorical_crossentropy(labels, y_pred, from_logits=False,
                                                     label_smoothing=self.label_smoothing)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "label_smoothing": self.label_smoothing}

    def saved_as(self) -> keras.losses.Loss:
        """The built-in loss a saved model is compiled with (see the class docstring)."""
        return keras.losses.SparseCategoricalCrossentropy(from_logits=False)


def make_loss(num_classes: int, label_smoothing: float) -> keras.losses.Loss:
    if label_smoothing:
        return SparseSmoothedCrossentropy(num_classes, label_smoothing)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=False)


def compile_model(model: keras.Model, config, *, learning_rate: float, phase_steps: int, num_classes: int,
                  jit_compile, cycles: int = 1, first_step: int = 0, steps_per_epoch: int = 1) -> None:
    """(Re)compile for one phase: a fresh optimizer and schedule over the phase's steps (``cycles``: snapshot;
    ``first_step`` and ``steps_per_epoch`` place the phase on an lr_schedule: step)."""
    if config.lr_schedule == "step":
        schedule = step_schedule(config.lr_boundaries, config.step_values(), unit=config.lr_boundaries_unit,
                                 first_step=first_step, steps_per_epoch=steps_per_epoch)
    else:
        schedule = make_schedule(config.lr_schedule, learning_rate, phase_steps, cycles)
    model.compile(optimizer=make_optimizer(config.optimizer, schedule, config.weight_decay),
                  loss=make_loss(num_classes, config.label_smoothing),
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                  jit_compile=jit_compile)
