"""The one table of keras.applications backbones (pure data, no Keras import).

Adding a backbone is adding one row here: the trial config's allowed ``backbone`` values,
the native input sizes and the Keras registry in ``models/backbones.py`` are all derived from it.
"""

from __future__ import annotations

from typing import NamedTuple


class BackboneRow(NamedTuple):
    builder: str  # attribute of keras.applications
    preprocess: str  # a models.preprocess mode (how its preprocess_input maps raw pixels)
    native_size: int  # the input side it was trained at (the default image_size)
    min_size: int = 32  # smallest input keras.applications accepts without the top


TABLE: dict[str, BackboneRow] = {
    "inception_v3": BackboneRow("InceptionV3", "tf", 299, 75),
    "inception_resnet_v2": BackboneRow("InceptionResNetV2", "tf", 299, 75),
    "resnet50": BackboneRow("ResNet50", "caffe", 224),
    "xception": BackboneRow("Xception", "tf", 299, 71),
    "densenet121": BackboneRow("DenseNet121", "torch", 224),
    # EfficientNet rescales and normalises inside the model: its preprocess_input is the identity.
    "efficientnet_b2": BackboneRow("EfficientNetB2", "none", 260),
    "mobilenet_v2": BackboneRow("MobileNetV2", "tf", 224),
    "nasnet_mobile": BackboneRow("NASNetMobile", "tf", 224),
    "vgg16": BackboneRow("VGG16", "caffe", 224),
}
NATIVE_SIZES = {name: row.native_size for name, row in TABLE.items()}
