"""Where a storage URL comes from (flag, file, environment), how it is printed, how agents receive it."""

import logging

import pytest

from inat_cnn.engine.launcher import agent_command, agent_env
from inat_cnn.engine.storage import describe, open_storage, resolve_storage
from inat_cnn.errors import UserError
from inat_cnn.redact import redact_url
from inat_cnn.workspace import Workspace

SECRET = "s3cr%t-pw"
URL = "postgresql://inat:s3cr%25t-pw@db.example:5432/sweeps"  # the password percent-encoded, as URLs need


@pytest.fixture(autouse=True)
def _no_storage_env(monkeypatch):
    monkeypatch.delenv("INAT_CNN_STORAGE", raising=False)
    monkeypatch.delenv("INAT_CNN_STORAGE_FILE", raising=False)


def test_flag_then_file_then_environment_then_the_workspace(tmp_path, monkeypatch):
    url_file = tmp_path / "url"
    url_file.write_text("# our sweeps\n\n  sqlite:////from/file.db  \n")
    env_file = tmp_path / "env-url"
    env_file.write_text("sqlite:////from/env-file.db\n")
    assert resolve_storage() is None  # the workspace's SQLite file
    monkeypatch.setenv("INAT_CNN_STORAGE_FILE", str(env_file))
    assert resolve_storage() == "sqlite:////from/env-file.db"
    monkeypatch.setenv("INAT_CNN_STORAGE", "sqlite:////from/env.db")
    assert resolve_storage() == "sqlite:////from/env.db"
    assert resolve_storage(storage_file=url_file) == "sqlite:////from/file.db"
    assert resolve_storage("sqlite:////from/flag.db") == "sqlite:////from/flag.db"


def test_only_a_password_on_the_command_line_is_warned_about(tmp_path, monkeypatch, caplog):
    with caplog.at_level(logging.WARNING, logger="inat_cnn.engine.storage"):
        assert resolve_storage("postgresql://inat@db.example/sweeps") == "postgresql://inat@db.example/sweeps"
        monkeypatch.setenv("INAT_CNN_STORAGE", URL)
        assert resolve_storage() == URL
        assert "`ps`" not in caplog.text
        assert resolve_storage(URL) == URL
    assert "`ps`" in caplog.text and "INAT_CNN_STORAGE" in caplog.text and ".pgpass" in caplog.text
    assert SECRET not in caplog.text and "s3cr%25t-pw" not in caplog.text


def test_bad_sources_are_user_errors_that_hide_the_password(tmp_path):
    with pytest.raises(UserError, match="not both"):
        resolve_storage("sqlite:////a.db", tmp_path / "f")
    with pytest.raises(UserError, match="cannot read the storage URL"):
        resolve_storage(storage_file=tmp_path / "missing")
    (tmp_path / "empty").write_text("# nothing here\n")
    with pytest.raises(UserError, match="holds no storage URL"):
        resolve_storage(storage_file=tmp_path / "empty")
    (tmp_path / "garbage").write_text("inat:hunter22@db\n")
    with pytest.raises(UserError, match="not a database URL") as bad:
        resolve_storage(storage_file=tmp_path / "garbage")
    assert "hunter22" not in str(bad.value)


def test_printed_urls_and_driver_messages_never_carry_the_password():
    assert redact_url(URL) == "postgresql://inat:***@db.example:5432/sweeps"
    assert SECRET not in redact_url(URL) and "s3cr%25t-pw" not in redact_url(URL)
    said = describe(RuntimeError(f"could not connect with password {SECRET} or s3cr%25t-pw"), URL)
    assert SECRET not in said and "s3cr%25t-pw" not in said and "***" in said


def test_a_missing_driver_is_a_user_error_naming_the_extra():
    with pytest.raises(UserError, match=r"inat-cnn\[postgres\]") as err:
        open_storage("postgresql+pg8000://inat:hunter22@127.0.0.1:1/x")
    assert "hunter22" not in str(err.value)


def test_launched_agents_get_the_url_by_environment_never_on_argv(tmp_path, monkeypatch):
    monkeypatch.setenv("INAT_CNN_STORAGE_FILE", "/elsewhere")
    argv = agent_command("s-1", tmp_path, Workspace(tmp_path), ["--count", "2"])
    assert "--storage" not in argv and not any(SECRET in a for a in argv)
    env = agent_env(URL)
    assert env["INAT_CNN_STORAGE"] == URL and "INAT_CNN_STORAGE_FILE" not in env
    assert "INAT_CNN_STORAGE" not in agent_env(None)  # the workspace's SQLite file, as the launcher had
