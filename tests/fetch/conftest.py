"""Fixtures of the fetch tests: a loopback HTTP server and small zips in iNaturalist-12K's layout."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from loopback import LoopbackServer


@pytest.fixture
def server():
    with LoopbackServer() as srv:
        yield srv


@pytest.fixture(scope="session")
def dataset_zip(tmp_path_factory) -> bytes:
    """A real (tiny) dataset zipped as nature_12K.zip is: inaturalist_12K/{train,val}/<class>/*.jpg."""
    from inat_cnn.data import synthesize

    root = synthesize(tmp_path_factory.mktemp("zipsrc") / "inaturalist_12K", classes=2, per_class=3,
                      test_per_class=1, min_side=16, max_side=24)  # fmt: skip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix != ".jpg":
                continue  # synth's own marker: the real archive holds folders and JPEGs only
            zf.write(path, Path("inaturalist_12K", path.relative_to(root)).as_posix())
    return buf.getvalue()

