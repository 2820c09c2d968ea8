"""The augmentation block: random geometry and contrast, active only in training.

Keras' random preprocessing layers are the identity at inference, so the block
lives inside the model and a saved model.keras needs nothing else.

``augment: true`` is the general block below; ``augment: cifar`` is the standard CIFAR
augmentation (pad 4 px, random crop back to the input size, horizontal flip), done as a
random translation of up to 4 px with zero fill and nearest-pixel sampling: the same integer
shifts, and unlike ``RandomCrop`` (which resizes at inference) the identity outside training.
"""

from __future__ import annotations

AUGMENT_NAME = "augment"


CIFAR_PAD = 4


def augmentation_block(seed: int = 0, kind: bool | str = True, image_size: int = 32):
    """The training-only block for ``augment`` = true (flip/rotation/zoom/translation/contrast) or cifar."""
    import keras

    layers = keras.layers
    if kind == "cifar":
        shift = CIFAR_PAD / image_size
        return keras.Sequential([
            layers.RandomTranslation(shift, shift, fill_mode="constant", fill_value=0.0, interpolation="nearest",
                                     seed=seed, name="random_pad_crop"),
            layers.RandomFlip("horizontal", seed=seed + 1, name="random_flip"),
        ], name=AUGMENT_NAME)
    return keras.Sequential([
        layers.RandomFlip("horizontal", seed=seed, name="random_flip"),
        layers.RandomRotation(0.1, fill_mode="reflect", seed=seed + 1, name="random_rotation"),
        layers.RandomZoom(0.1, fill_mode="reflect", seed=seed + 2, name="random_zoom"),
        layers.RandomTranslation(0.1, 0.1, fill_mode="reflect", seed=seed + 3, name="random_translation"),
        layers.RandomContrast(0.2, value_range=(0, 255), seed=seed + 4, name="random_contrast"),
    ], name=AUGMENT_NAME)
