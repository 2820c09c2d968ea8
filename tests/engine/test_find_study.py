"""One check for a missing SQLite file and one for an unknown sweep, whichever command opens the sweep."""

import optuna
import pytest

from inat_cnn.engine.storage import find_study, load_study, open_storage
from inat_cnn.errors import UserError


def test_a_missing_sqlite_file_is_named_and_not_created(tmp_path):
    db = tmp_path / "sweeps.db"
    with pytest.raises(UserError, match=r"no sweep database at .*sweeps\.db: create a sweep first"):
        load_study("any", f"sqlite:///{db}")
    assert not db.exists()


def test_an_unknown_sweep_names_the_storage_and_the_sweeps_it_holds(tmp_path):
    url = f"sqlite:///{tmp_path / 'sweeps.db'}"
    store = open_storage(url)
    for name in ("first", "second"):
        optuna.create_study(study_name=name, storage=store)
    with pytest.raises(UserError) as agent_error:  # what `inat-cnn agent` opens
        load_study("nope", url)
    assert str(agent_error.value) == f"no sweep 'nope' in {url}; sweeps there: first, second"
    with pytest.raises(UserError, match=r"a W&B sweep path\? pass --backend wandb"):
        find_study("me/project/abc123", store)
    assert find_study("second", store).study_name == "second"


def test_an_empty_storage_says_how_to_make_a_sweep(tmp_path):
    store = open_storage(f"sqlite:///{tmp_path / 'sweeps.db'}")
    with pytest.raises(UserError, match=r"sweeps there: none yet \(create one with `inat-cnn sweep create FILE`\)"):
        find_study("nope", store)
