"""decode_image / probe_image on every bad-file kind, and the conversions they need."""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
import pytest
from PIL import Image

from inat_cnn.data import BadImage, decode_image, load_image_file, probe_image
from inat_cnn.data.bad_files import BAD_KINDS, plant_bad_files
from inat_cnn.errors import UserError

SKIP_REASONS = {
    "zero_byte": "zero-byte",
    "truncated": "truncated",
    "not_an_image": "not an image",
    "text_file": "not an image",
    "bomb": "decompression bomb",
    "unreadable": "permission denied",
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    root = tmp_path_factory.mktemp("planted")
    for name in ("a", "b"):
        (root / "train" / name).mkdir(parents=True)
    return plant_bad_files(root, ["a", "b"], seed=3)


def test_bad_kinds_cover_the_issue_list():
    assert {"zero_byte", "truncated", "not_an_image", "grayscale", "cmyk", "rgba", "palette", "sixteen_bit",
            "wrong_extension", "bomb", "unreadable", "hidden"} <= set(BAD_KINDS)  # fmt: skip


# root reads chmod-000 files: as root, test_unreadable_file_as_an_unprivileged_user checks that kind
@pytest.mark.parametrize("kind", [k for k, (_, what) in BAD_KINDS.items() if what == "skip"
                                  and not (k == "unreadable" and os.geteuid() == 0)])
def test_bad_files_raise_badimage_with_reason(planted, kind):
    with pytest.raises(BadImage, match=SKIP_REASONS[kind]):
        probe_image(planted[kind])  # the cheap check already catches it...
    with pytest.raises(BadImage, match=SKIP_REASONS[kind]):
        decode_image(planted[kind], 16)  # ...and so does the decoder on its own


@pytest.mark.parametrize("kind", [k for k, (_, what) in BAD_KINDS.items() if what == "convert"])
def test_odd_files_are_converted_to_rgb(planted, kind):
    assert probe_image(planted[kind]).note  # converted files are noted
    out = decode_image(planted[kind], 20)
    assert out.shape == (20, 20, 3) and out.dtype == np.uint8
    assert out.std() > 5  # a real picture came through, not a flat fill


def _in_child_as_nobody(check) -> int:
    """Run ``check()`` in a forked child that dropped root privileges; its exit code (0 = passed)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 3
        try:
            os.setgid(65534)
            os.setuid(65534)
            code = 0 if check() else 1
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.skipif(os.geteuid() != 0, reason="the planted-kind test above covers it for a normal user")
def test_unreadable_file_as_an_unprivileged_user(planted):
    """As root, chmod 000 is no obstacle: check it from a child process that gave up root."""
    folder = tempfile.mkdtemp()
    try:
        os.chmod(folder, 0o755)
        target = os.path.join(folder, "locked.jpg")
        shutil.copyfile(planted["grayscale"], target)
        os.chmod(target, 0)

        def check():
            reasons = []
            for fn in (probe_image, lambda p: decode_image(p, 8)):
                try:
                    fn(target)
                except BadImage as err:
                    reasons.append(err.reason)
            return reasons == ["unreadable: permission denied"] * 2

        assert _in_child_as_nobody(check) == 0
    finally:
        shutil.rmtree(folder)


def test_dangling_symlink_is_unreadable(tmp_path):
    link = tmp_path / "gone.jpg"
    link.symlink_to(tmp_path / "missing.jpg")
    with pytest.raises(BadImage, match="unreadable"):
        decode_image(link, 8)


def test_alpha_is_composited_over_white(tmp_path):
    img = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    img.paste((0, 0, 255, 255), (0, 0, 5, 10))
    img.save(tmp_path / "a.png")
    out = decode_image(tmp_path / "a.png", 10).astype(int)
    assert (out[:, 0] == [0, 0, 255]).all() and (out[:, -1] == [255, 255, 255]).all()


def test_sixteen_bit_gray_is_rescaled_not_clipped(tmp_path):
    Image.fromarray(np.full((8, 8), 32768, np.uint16)).save(tmp_path / "g.png")
    out = decode_image(tmp_path / "g.png", 8)
    assert np.all(np.abs(out.astype(int) - 128) <= 1)


def test_cmyk_matches_pil_conversion(tmp_path):
    rgb = Image.new("RGB", (16, 16), (200, 40, 90))
    rgb.convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    out = decode_image(tmp_path / "c.jpg", 16)
    assert np.abs(out.astype(int).mean(axis=(0, 1)) - [200, 40, 90]).max() < 12


def test_squash_keeps_everything_center_crop_keeps_the_middle(tmp_path):
    arr = np.zeros((30, 90, 3), np.uint8)
    arr[:, :30, 0], arr[:, 30:60, 1], arr[:, 60:, 2] = 255, 255, 255
    Image.fromarray(arr).save(tmp_path / "wide.png")
    squash = decode_image(tmp_path / "wide.png", 12, "squash").astype(int)
    crop = decode_image(tmp_path / "wide.png", 12, "center-crop").astype(int)
    assert squash[6, 0, 0] > 200 and squash[6, 6, 1] > 200 and squash[6, 11, 2] > 200
    assert (crop[:, :, 1] > 200).all() and (crop[:, :, [0, 2]] < 50).all()


def test_wrong_extension_is_noted_and_decoded(planted):
    info = probe_image(planted["wrong_extension"])
    assert info.format == "JPEG" and ".png" in info.note


def test_load_image_file_reports_user_errors(tmp_path, planted):
    with pytest.raises(UserError, match="no such image file"):
        load_image_file(tmp_path / "nope.jpg", 16)
    with pytest.raises(UserError, match="not an image"):
        load_image_file(planted["not_an_image"], 16)
    with pytest.raises(UserError, match="resize method"):
        load_image_file(planted["grayscale"], 16, resize="stretch")
    assert load_image_file(planted["grayscale"], 16).shape == (16, 16, 3)
