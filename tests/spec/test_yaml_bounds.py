"""YAML input is bounded: size, aliases once expanded, nesting depth. Each fails fast with exit 2."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from inat_cnn.errors import UserError
from inat_cnn.spec import load_sweep
from inat_cnn.spec.yaml_source import MAX_BYTES, MAX_DEPTH, MAX_NODES

MALFORMED = Path(__file__).parent / "malformed"
BOMB = MALFORMED / "alias_bomb.yaml"
DEEP = MALFORMED / "deep_nesting.yaml"
RECURSIVE = MALFORMED / "recursive_alias.yaml"
SMOKE = Path(__file__).parents[2] / "sweeps" / "smoke.yaml"


def _huge(tmp_path: Path) -> Path:
    path = tmp_path / "huge.yaml"
    rows = "".join(f"      - {i}\n" for i in range(MAX_BYTES // 8))
    path.write_text("method: random\nparameters:\n  model: {value: scratch}\n  seed:\n    values:\n" + rows)
    assert path.stat().st_size > MAX_BYTES
    return path


def _refused_fast(path: Path) -> UserError:
    start = time.process_time()  # this process's CPU seconds: other processes on the machine do not count
    with pytest.raises(UserError) as info:
        load_sweep(path)
    assert time.process_time() - start < 1.0  # unbounded, the bomb ran past 60 s and 3.4 GB
    assert str(path) in str(info.value)
    return info.value


def test_billion_laughs_is_refused_at_the_alias_that_crosses_the_limit():
    err = _refused_fast(BOMB)
    assert f"more than {MAX_NODES:,} values once its aliases are expanded" in str(err)
    (problem,) = err.problems
    assert "*a" in BOMB.read_text().splitlines()[problem.line - 1]


def test_deep_nesting_and_recursive_aliases_are_refused():
    assert f"nested deeper than {MAX_DEPTH} levels" in str(_refused_fast(DEEP))
    assert "recursive alias" in str(_refused_fast(RECURSIVE))


def test_aliases_that_nest_deep_are_refused(tmp_path):
    path = tmp_path / "alias_depth.yaml"
    deep = "[" * 20 + "1" + "]" * 20
    path.write_text(f"method: random\nx: &deep {deep}\nparameters:\n  model: {{value: scratch}}\n"
                    "  seed: {values: [[[[[[[[[[[[[[*deep]]]]]]]]]]]]]]}\n")
    assert "aliases nest the document deeper" in str(_refused_fast(path))


def test_a_huge_file_is_refused_before_it_is_read(tmp_path):
    path = _huge(tmp_path)
    err = _refused_fast(path)
    assert f"at most {MAX_BYTES:,}" in str(err) and f"{path.stat().st_size:,} bytes" in str(err)


def test_ordinary_anchors_and_aliases_still_work(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text("method: grid\nparameters:\n  model: {value: scratch}\n  filters: {values: &sizes [8, 16]}\n"
                    "  dense_units: {values: *sizes}\n")
    validated = load_sweep(path)
    assert validated.spec.parameters["dense_units"].values == [8, 16] and validated.spec.grid_size() == 4


def _cli_seconds_and_peak_mib(path: Path) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run `inat-cnn sweep validate PATH` in a fresh interpreter that reports its child's peak memory."""
    probe = ("import resource, subprocess, sys, time\n"
             "t = time.perf_counter()\n"
             "p = subprocess.run([sys.executable, '-m', 'inat_cnn', 'sweep', 'validate', sys.argv[1]],"
             " capture_output=True, text=True)\n"
             "t = time.perf_counter() - t\n"
             "print(p.returncode, t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)\n"
             "sys.stderr.write(p.stderr)\n")
    proc = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=60)
    rc, seconds, mib = proc.stdout.split()
    proc.returncode = int(rc)
    return proc, float(seconds), float(mib)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["alias_bomb", "deep_nesting", "huge"])
def test_cli_refuses_each_within_a_second_of_a_normal_run(kind, tmp_path):
    path = _huge(tmp_path) if kind == "huge" else MALFORMED / f"{kind}.yaml"
    ok, baseline, _ = _cli_seconds_and_peak_mib(SMOKE)
    assert ok.returncode == 0
    proc, seconds, peak_mib = _cli_seconds_and_peak_mib(path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert str(path) in proc.stderr and len(proc.stderr.strip().splitlines()) == 1  # one located paragraph
    assert seconds < baseline + 1.0, (seconds, baseline)  # the interpreter's start-up is the baseline
    assert peak_mib < 400, peak_mib
