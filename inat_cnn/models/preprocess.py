"""Backbone input preprocessing from Keras' own layers, so a saved model needs nothing of this project.

Each mode reproduces one ``keras.applications.*.preprocess_input`` on raw 0..255
RGB pixels with built-in layers that serialize in safe mode (no custom class, no
Lambda): plain ``keras.saving.load_model`` loads the model and it takes raw pixels
whatever its backbone.

- ``tf``: ``Rescaling(1/127.5, offset=-1)`` to [-1, 1].
- ``torch``: ``Rescaling(1/255)``, then ``Normalization`` with the ImageNet mean and variance (std²).
- ``caffe``: RGB -> BGR and minus the ImageNet BGR mean, as one frozen ``Dense(3)`` on the channel
  axis (kernel: the channel permutation, bias: the negative mean; exact in float32). A Dense rather
  than a 1x1 Conv2D so that "the first Conv2D" (the filters figure) stays the backbone's.
- ``none``: no layer (EfficientNet normalises inside the backbone).

Every layer's name starts with ``preprocess``: ``is_preprocessing`` tells them from the network.
"""

from __future__ import annotations

MODES = ("tf", "torch", "caffe", "none")
PREFIX = "preprocess"
IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
#: out[..., j] = in[..., 2 - j]: row i of the kernel feeds input channel i to output channel 2 - i.
BGR_KERNEL = ((0.0, 0.0, 1.0), (0.0, 1.0, 0.0), (1.0, 0.0, 0.0))


def preprocessing_layers(mode: str) -> list:
    """The built-in Keras layers of one preprocess mode, in order (an empty list for ``none``)."""
    import keras

    layers = keras.layers
    f32 = {"dtype": "float32"}  # exact under a mixed policy too: the backbone casts the result itself
    if mode == "tf":
        return [layers.Rescaling(1.0 / 127.5, offset=-1.0, name=PREFIX, **f32)]
    if mode == "torch":
        return [layers.Rescaling(1.0 / 255.0, name=f"{PREFIX}_scale", **f32),
                layers.Normalization(mean=list(IMAGENET_MEAN_RGB), variance=[s * s for s in IMAGENET_STD_RGB],
                                     name=PREFIX, **f32)]
    if mode == "caffe":
        return [layers.Dense(3, kernel_initializer=keras.initializers.Constant([list(r) for r in BGR_KERNEL]),
                             bias_initializer=keras.initializers.Constant([-m for m in CAFFE_MEAN_BGR]),
                             trainable=False, name=PREFIX, **f32)]
    if mode == "none":
        return []
    raise ValueError(f"unknown preprocess mode {mode!r}; expected one of {MODES}")


def apply_preprocessing(x, mode: str):
    """``x`` (raw 0..255 pixels, a symbolic or real tensor) through the layers of ``mode``."""
    for layer in preprocessing_layers(mode):
        x = layer(x)
    return x


def is_preprocessing(layer) -> bool:
    """Whether a top-level layer is one of the fixed input-preprocessing layers above."""
    return layer.name == PREFIX or layer.name.startswith(f"{PREFIX}_")
