"""Native input sizes of the registered backbones (pure data, no Keras import)."""

NATIVE_SIZES = {
    "inception_v3": 299,
    "inception_resnet_v2": 299,
    "resnet50": 224,
    "xception": 299,
    "densenet121": 224,
    "efficientnet_b2": 260,
    "mobilenet_v2": 224,
    "nasnet_mobile": 224,
    "vgg16": 224,
}
