"""lr_schedule: step — explicit boundaries and values, in steps or epochs, placed on each phase."""

import keras
import pytest

from inat_cnn.training.optim import compile_model, current_lr, step_schedule
from inat_cnn.trial_config import parse_trial_config


def _at(schedule, step: int) -> float:
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_the_studys_schedule_in_steps():
    schedule = step_schedule([32000, 48000], [0.1, 0.01, 0.001], unit="steps")
    assert [_at(schedule, s) for s in (0, 32000, 32001, 48000, 48001, 90000)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001])


def test_epoch_boundaries_and_a_later_phase_count_from_the_start_of_training():
    in_epochs = step_schedule([2, 3], [0.1, 0.01, 0.001], unit="epochs", steps_per_epoch=10)
    assert [_at(in_epochs, s) for s in (20, 21, 30, 31)] == pytest.approx([0.1, 0.01, 0.01, 0.001])
    # a phase starting at epoch 2: its optimizer counts from 0, the schedule is shifted by 20 steps
    later = step_schedule([2, 3], [0.1, 0.01, 0.001], unit="epochs", first_step=20, steps_per_epoch=10)
    assert [_at(later, s) for s in (0, 10, 11)] == pytest.approx([0.01, 0.01, 0.001])
    assert step_schedule([2, 3], [0.1, 0.01, 0.001], unit="epochs", first_step=30, steps_per_epoch=10) == 0.001


def test_compiled_phase_applies_the_configs_step_schedule():
    config = parse_trial_config({"model": "finetune", "backbone": "vgg16", "weights": "none", "head_epochs": 1,
                                 "epochs": 4, "lr_schedule": "step", "lr_boundaries": [2],
                                 "lr_boundaries_unit": "epochs", "learning_rate": 0.5})
    assert config.step_values() == pytest.approx([0.5, 0.05])  # default values: learning_rate, then /10
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
    _, first, end, lr = config.phases()[1]  # fine_tune from epoch 1
    compile_model(model, config, learning_rate=lr, phase_steps=5 * (end - first), first_step=5 * first,
                  steps_per_epoch=5, num_classes=2, jit_compile=False)
    model.optimizer.iterations.assign(5)  # global step 10: the boundary itself
    assert current_lr(model.optimizer) == pytest.approx(0.5)
    model.optimizer.iterations.assign(6)
    assert current_lr(model.optimizer) == pytest.approx(0.05)
