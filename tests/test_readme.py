"""The README's vocabulary table is the one generated from the trial config models."""

from pathlib import Path

from inat_cnn.spec.docs import vocabulary_markdown

README = Path(__file__).parents[1] / "README.md"


def test_readme_vocabulary_matches_the_models():
    assert vocabulary_markdown() in README.read_text(), "regenerate with inat_cnn.spec.docs.vocabulary_markdown()"


def test_readme_has_the_two_setup_commands_and_ci_runs_the_test_one():
    text = README.read_text()
    assert "inat-cnn demo" in text
    setup = "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]'"
    test_cmd = f"{setup} && .venv/bin/ruff check . && .venv/bin/pytest"
    assert test_cmd in text
    assert test_cmd in (README.parent / ".ci" / "run").read_text()
