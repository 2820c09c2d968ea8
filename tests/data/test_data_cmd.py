"""`inat-cnn data synth|inspect|prepare` end to end, through the real entry point."""

from __future__ import annotations

import pytest

from inat_cnn.cli import main
from inat_cnn.data.cache import CACHE_VERSION


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_synth_inspect_prepare(tmp_path, capsys):
    root, cache = tmp_path / "ds", tmp_path / "cache"
    code, out, _ = _run(["data", "synth", str(root), "--classes", "3", "--per-class", "6", "--test-per-class", "2",
                         "--min-side", "20", "--max-side", "40", "--bad-files"], capsys)  # fmt: skip
    assert code in (0, None) and "wrote 24 images" in out
    assert sorted(p.name for p in (root / "train").iterdir()) == ["Amphibia", "Animalia", "Arachnida"]

    code, out, _ = _run(["data", "inspect", str(root), "--cache-dir", str(cache)], capsys)
    assert code in (0, None)
    assert "Animalia" in out and "test (val/)" in out and "aspect (w/h)" in out
    assert "bad_bomb.png: decompression bomb" in out and "bad_zero_byte.jpg: zero-byte file" in out
    assert "odd_cmyk.jpg: CMYK converted to RGB" in out and ".DS_Store" not in out
    assert "not saved yet" in out

    code, out, err = _run(["data", "prepare", str(root), "--image-size", "16", "--cache-dir", str(cache)], capsys)
    assert code in (0, None) and "decoding" in err and "skipped" in out
    assert len(list((cache / "decoded").glob(f"*-16px-squash-v{CACHE_VERSION}/COMPLETE"))) == 1

    code, out, _ = _run(["data", "inspect", str(root), "--cache-dir", str(cache)], capsys)
    assert "manifest: " + str(cache / "splits") in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["data", "prepare", "{tmp}/missing", "--image-size", "16"], "dataset root does not exist"),
        (["data", "inspect", "{tmp}", "--val-fraction", "1.5"], "val_fraction must be between 0 and 1"),
        (["data", "synth", "{tmp}/s", "--classes", "1"], "need classes >= 2"),
    ],
)
def test_bad_input_exits_2_with_a_message(tmp_path, capsys, argv, message):
    code, _, err = _run([a.replace("{tmp}", str(tmp_path)) for a in argv], capsys)
    assert code == 2 and message in err and "Traceback" not in err
