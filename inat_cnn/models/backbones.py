"""Registry of keras.applications backbones: name -> builder, preprocess mode, sizes.

Built from the one backbone table (``backbone_sizes.TABLE``): adding a backbone is adding a row there.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..backbone_sizes import TABLE
from ..errors import UserError


@dataclass(frozen=True)
class BackboneSpec:
    name: str
    builder: str  # attribute of keras.applications
    preprocess: str  # a preprocess.Preprocess mode
    native_size: int
    min_size: int = 32  # smallest input keras.applications accepts without the top

    def build(self, weights: str | None, image_size: int):
        """The backbone without its top, on (image_size, image_size, 3) inputs."""
        import keras

        fn = getattr(keras.applications, self.builder)
        return fn(include_top=False, weights=weights, input_shape=(image_size, image_size, 3))


REGISTRY: dict[str, BackboneSpec] = {name: BackboneSpec(name, *row) for name, row in TABLE.items()}


def get_spec(name: str) -> BackboneSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown backbone {name!r}; choose one of {', '.join(REGISTRY)}") from None


def keras_cache_dir() -> Path:
    """Where Keras keeps downloaded weights: <KERAS_HOME as read when Keras was imported>/models."""
    try:
        from keras.src.backend.config import keras_home  # the directory get_file really uses

        home = keras_home()
    except ImportError:  # pragma: no cover - a Keras without the private accessor
        home = os.environ.get("KERAS_HOME", Path.home() / ".keras")
    return Path(home).expanduser() / "models"


def load_backbone(name: str, weights: str, image_size: int, mirror: str | None = None):
    """Build a backbone with ``imagenet`` (Keras' cache, filled from ``mirror`` or $INAT_CNN_WEIGHTS_MIRROR
    first when set), ``none`` or a local weights file; clear errors."""
    spec = get_spec(name)
    if image_size < spec.min_size:
        raise UserError(f"image_size {image_size} is below the smallest input {name} accepts ({spec.min_size})")
    if weights == "none":
        return spec.build(None, image_size)
    if weights != "imagenet":
        path = Path(weights).expanduser()
        if not path.is_file():
            raise UserError(f"weights file {weights} does not exist (weights: imagenet, none, or a file path)")
        try:
            return spec.build(str(path), image_size)
        except Exception as err:  # a wrong file is the user's input, not our bug
            raise UserError(f"cannot load weights file {weights} into {name}: {err}") from None
    from ..fetch.mirror import keras_weights_mirror, mirror_from_env

    try:
        with keras_weights_mirror(mirror or mirror_from_env()):
            return spec.build("imagenet", image_size)
    except UserError:
        raise
    except Exception as err:
        match = re.search(r"URL fetch failure on (\S+):\s", str(err))
        if not match:
            raise
        file_name = match.group(1).rsplit("/", 1)[-1]
        raise UserError(
            f"cannot download the ImageNet weights of {name} ({err}). On a machine without internet, place "
            f"{file_name} in {keras_cache_dir()} (download it from {match.group(1)}, or run "
            f"`inat-cnn weights fetch {name}` where internet exists and copy the folder), or point "
            "INAT_CNN_WEIGHTS_MIRROR at a folder or URL holding it, or use weights: none "
            "or a weights file path.") from None
