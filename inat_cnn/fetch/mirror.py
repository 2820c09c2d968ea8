"""ImageNet weights from a mirror, for clusters without internet.

A mirror is a base URL (``http://host/keras/``) or a folder holding the files under the names Keras
downloads them as (``mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5``, ...). While
``keras_weights_mirror(m)`` is active, each file a ``keras.applications`` builder asks Keras'
``get_file`` for that is missing from Keras' cache (or fails the hash Keras records for it) is first
fetched from the mirror into that cache, resumable and verified by that hash (md5 or SHA-256), or by
the size the mirror announces where Keras records none. Keras then finds it there and checks it again.
"""

from __future__ import annotations

import inspect
import os
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import UserError
from ..redact import redact_text
from .http import download, file_digests, hash_kind

MIRROR_ENV = "INAT_CNN_WEIGHTS_MIRROR"


def mirror_from_env() -> str | None:
    return os.environ.get(MIRROR_ENV) or None


def mirror_url(mirror: str, file_name: str) -> str:
    """Where the mirror keeps ``file_name``: a URL under the base URL, or a file:// URL into the folder."""
    if urllib.parse.urlsplit(mirror).scheme in ("http", "https", "file"):
        return mirror.rstrip("/") + "/" + urllib.parse.quote(file_name)
    folder = Path(mirror).expanduser()
    if not folder.is_dir():
        raise UserError(f"the weights mirror {redact_text(mirror)} is neither an http(s) URL nor an existing folder "
                        f"(--mirror or {MIRROR_ENV})")
    if not (folder / file_name).is_file():
        raise UserError(f"the weights mirror folder {folder} has no {file_name}: copy it there from "
                        "a machine with internet (its Keras cache, ~/.keras/models, holds it after "
                        "`inat-cnn weights fetch`).")
    return (folder / file_name).absolute().as_uri()


def fetch_from_mirror(mirror: str, file_name: str, target: Path, file_hash: str | None = None,
                      progress: bool = True) -> Path:
    """``file_name`` from the mirror into ``target``, verified by ``file_hash`` (md5/sha256) or by size."""
    url = mirror_url(mirror, file_name)
    try:
        download(url, target, expected_hash=file_hash, progress=progress)
    except UserError as err:
        raise UserError(f"cannot fetch {file_name} from the weights mirror {redact_text(mirror)}: {err}") from None
    return target


def _is_cached(target: Path, file_hash: str | None) -> bool:
    if not target.is_file():
        return False
    if not file_hash:
        return True
    kind = hash_kind(file_hash)
    return file_digests(target, kind)[kind] == file_hash.lower()


def _keras_target(cache_dir: str | None, cache_subdir: str, fname: str) -> Path:
    """The path Keras' get_file uses for ``fname`` (its cache, or /tmp/.keras when that is read-only)."""
    from keras.src.backend.config import keras_home

    base = os.path.expanduser(cache_dir or keras_home())
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp", ".keras")
    return Path(base) / cache_subdir / fname


@contextmanager
def keras_weights_mirror(mirror: str | None, progress: bool = True) -> Iterator[None]:
    """While active, Keras' get_file fills a cache miss from ``mirror`` first (no-op when mirror is None)."""
    if not mirror:
        yield
        return
    from keras.src.utils import file_utils  # keras.applications modules call file_utils.get_file at run time

    real = file_utils.get_file
    signature = inspect.signature(real)

    def get_file(*args, **kwargs):
        call = signature.bind(*args, **kwargs)
        call.apply_defaults()
        a = call.arguments
        if not (a["extract"] or a["untar"]) and a["origin"]:
            fname = a["fname"] or Path(urllib.parse.urlsplit(a["origin"]).path).name
            file_hash = a["file_hash"] or a["md5_hash"]
            target = _keras_target(a["cache_dir"], a["cache_subdir"], fname)
            if not _is_cached(target, file_hash):
                target.parent.mkdir(parents=True, exist_ok=True)
                fetch_from_mirror(mirror, fname, target, file_hash, progress)
        return real(*args, **kwargs)

    file_utils.get_file = get_file
    try:
        yield
    finally:
        file_utils.get_file = real
