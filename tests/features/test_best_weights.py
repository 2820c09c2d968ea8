"""BestWeights: the suffix's variables as the checkpoint file holds them, put back without reading the file."""

import numpy as np


def test_restores_the_copy_only_while_the_file_is_the_one_it_was_taken_with(tmp_path):
    import keras

    from inat_cnn.features.suffix import BestWeights

    inputs = keras.Input((3,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    ckpt = tmp_path / "model.keras"
    best = BestWeights(model, ckpt)
    best.on_epoch_end(0)  # no file yet: nothing kept
    assert best.values is None and not best.restore()
    model.save(ckpt)  # the monitor saved this epoch
    saved = [np.array(v.numpy()) for v in model.variables]
    best.on_epoch_end(1)
    for v in model.variables:  # a later, worse epoch: not saved
        v.assign(v.numpy() + 1.0)
    best.on_epoch_end(2)
    assert best.restore()
    for v, want in zip(model.variables, saved):
        np.testing.assert_array_equal(v.numpy(), want)
    model.save(tmp_path / "other.keras")
    (tmp_path / "other.keras").replace(ckpt)  # the file changed behind its back: the copy is no longer it
    assert not best.restore()
