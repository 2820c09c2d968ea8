"""Backbone input preprocessing as a serializable layer (keras.ops only).

Each mode reproduces one ``keras.applications.*.preprocess_input`` on raw 0..255
RGB pixels, so a saved model.keras loads with ``safe_mode=True`` and expects raw
pixels whatever its backbone.
"""

from __future__ import annotations

import keras
from keras import ops

MODES = ("tf", "torch", "caffe", "none")
_IMAGENET_MEAN_RGB = (0.485, 0.456, 0.406)
_IMAGENET_STD_RGB = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@keras.saving.register_keras_serializable(package="inat_cnn")
class Preprocess(keras.layers.Layer):
    """``tf``: [-1, 1]; ``torch``: /255 then ImageNet mean/std; ``caffe``: BGR minus the mean; ``none``: as is."""

    def __init__(self, mode: str = "tf", **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"unknown preprocess mode {mode!r}; expected one of {MODES}")
        self.mode = mode

    def call(self, inputs):
        x = ops.cast(inputs, self.compute_dtype)
        if self.mode == "tf":
            return x / 127.5 - 1.0
        if self.mode == "torch":
            mean = ops.convert_to_tensor(_IMAGENET_MEAN_RGB, dtype=self.compute_dtype)
            std = ops.convert_to_tensor(_IMAGENET_STD_RGB, dtype=self.compute_dtype)
            return (x / 255.0 - mean) / std
        if self.mode == "caffe":
            mean = ops.convert_to_tensor(_CAFFE_MEAN_BGR, dtype=self.compute_dtype)
            return ops.flip(x, axis=-1) - mean
        return x

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
