"""Every malformed sweep file fails with its expected message, key path and line; never a traceback."""

import subprocess
import sys
from pathlib import Path

import pytest

from inat_cnn.errors import UserError
from inat_cnn.spec import load_sweep

CORPUS = sorted((Path(__file__).parent / "malformed").glob("*.yaml"))


def _expectations(path: Path) -> tuple[str, str]:
    head = path.read_bytes().decode("latin-1").splitlines()[:2]
    key_path = head[0].removeprefix("# expect-path:").strip()
    fragment = head[1].removeprefix("# expect:").strip()
    return key_path, fragment


def test_corpus_is_large_enough():
    assert len(CORPUS) >= 40


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_malformed_file_is_rejected_with_location(path):
    key_path, fragment = _expectations(path)
    with pytest.raises(UserError) as info:
        load_sweep(path)
    message = str(info.value)
    assert fragment in message
    assert str(path) in message
    if key_path:
        assert any(p.key_path == key_path for p in info.value.problems), [p.key_path for p in info.value.problems]
        located = [p for p in info.value.problems if p.key_path == key_path][0]
        assert located.line is not None and f"{path}:{located.line}" in message


def test_line_numbers_point_at_the_offending_key():
    path = Path(__file__).parent / "malformed" / "dropout_out_of_domain.yaml"
    lines = path.read_text().splitlines()
    with pytest.raises(UserError) as info:
        load_sweep(path)
    problem = info.value.problems[0]
    assert "dropout" in lines[problem.line - 1]


def test_yaml_syntax_error_reports_its_line():
    path = Path(__file__).parent / "malformed" / "yaml_bad_indent.yaml"
    with pytest.raises(UserError) as info:
        load_sweep(path)
    assert info.value.problems[0].line in (6, 7)  # the bad indent (line 7 counting the 2 header lines)


@pytest.mark.slow
def test_cli_exits_2_on_the_whole_corpus_without_traceback():
    proc = subprocess.run([sys.executable, "-m", "inat_cnn", "sweep", "validate", *map(str, CORPUS)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr + proc.stdout
    for path in CORPUS:
        assert str(path) in proc.stderr
