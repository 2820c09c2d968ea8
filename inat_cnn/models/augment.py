"""The augmentation block: random geometry and contrast, active only in training.

Keras' random preprocessing layers are the identity at inference, so the block
lives inside the model and a saved model.keras needs nothing else.
"""

from __future__ import annotations

AUGMENT_NAME = "augment"


def augmentation_block(seed: int = 0):
    """Sequential of RandomFlip/RandomRotation/RandomZoom/RandomTranslation/RandomContrast on 0..255 pixels."""
    import keras

    layers = keras.layers
    return keras.Sequential([
        layers.RandomFlip("horizontal", seed=seed, name="random_flip"),
        layers.RandomRotation(0.1, fill_mode="reflect", seed=seed + 1, name="random_rotation"),
        layers.RandomZoom(0.1, fill_mode="reflect", seed=seed + 2, name="random_zoom"),
        layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed + 3, name="random_translation"),
        layers.RandomContrast(0.2, value_range=(0, 255), seed=seed + 4, name="random_contrast"),
    ], name=AUGMENT_NAME)
