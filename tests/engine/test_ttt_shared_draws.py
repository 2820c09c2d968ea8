"""The time-to-target benchmark's paired comparison (benchmarks/ttt_draws.py): the peer's random draws for seed S
are the configurations ours' bayes sweep seeded S tries first (TPE's start-up trials), and the peer's folders
hold exactly the validation split ours' trials use."""

import json
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml

from inat_cnn.data.manifest import load_or_create_manifest
from inat_cnn.data.scan import scan_dataset
from inat_cnn.engine.space import startup_trials

sys.path.insert(0, str(Path(__file__).parents[2] / "benchmarks"))
from ttt_common import load_space  # noqa: E402
from ttt_draws import (  # noqa: E402
    DrawsDiffer,
    check_ours_trials,
    check_split,
    check_startup,
    engine_draws,
    materialize_split,
    ours_split_defaults,
    peer_draws,
    random_copy,
    startup_count,
)

SPACE = load_space()  # the benchmark's own space: bayes, hyperband, run_cap 40


def test_ours_tpe_start_up_proposals_are_the_random_copys_first_draws_for_every_seed():
    k = startup_trials(SPACE["run_cap"])
    assert SPACE["method"] == "bayes" and k == 4
    firsts = []
    for seed in range(15):
        draws = peer_draws(SPACE, seed, 40)
        assert len(draws) == 40 and engine_draws(SPACE, k, seed) == draws[:k]
        assert check_startup(SPACE, seed, draws) == {"startup_trials": k, "previewed_equal": k}
        firsts.append(json.dumps(draws[0], sort_keys=True))
    assert len(set(firsts)) == 15  # each seed its own stream: the equality above is not one fixed point
    with pytest.raises(DrawsDiffer, match="seed 3, ours' TPE start-up .*trial 0 differs"):
        check_startup(SPACE, 3, peer_draws(SPACE, 4, 40))  # another seed's stream is caught


def test_the_random_copy_is_w_and_b_random_search_over_the_same_parameters():
    copy = random_copy(SPACE, 40)
    assert copy["method"] == "random" and "early_terminate" not in copy and "target" not in copy["metric"]
    assert copy["parameters"] == SPACE["parameters"] and SPACE["method"] == "bayes"  # the original untouched
    draws = peer_draws(SPACE, 0, 40)
    assert {d["filters"] for d in draws} == {8, 16, 32} and all(1e-4 <= d["learning_rate"] <= 1e-2 for d in draws)


def test_the_peer_folders_hold_ours_split_as_links_to_the_same_files(tiny_data, tmp_path):
    fraction, split_seed = ours_split_defaults(SPACE, peer_draws(SPACE, 0, 1)[0])
    assert (fraction, split_seed) == (0.1, 0)
    split = materialize_split(tiny_data, tmp_path / "peer_data", fraction, split_seed)
    manifest, _ = load_or_create_manifest(scan_dataset(tiny_data), fraction, split_seed, tmp_path / "ws" / "cache")
    assert check_split(tmp_path / "peer_data", tmp_path / "ws") == manifest.split_id == split["split_id"]
    for part, folder in ((manifest.train, "fit"), (manifest.val, "valid")):
        rel, label = part[0]
        link = tmp_path / "peer_data" / folder / manifest.class_names[label] / Path(rel).name
        assert os.path.samefile(link, tiny_data / rel)
    assert len(list((tmp_path / "peer_data" / "valid").glob("*/*"))) == len(manifest.val) > 0
    other, _ = load_or_create_manifest(scan_dataset(tiny_data), fraction, 1, tmp_path / "other" / "cache")
    assert other.val != manifest.val
    with pytest.raises(DrawsDiffer, match="differs from ours' split"):
        check_split(tmp_path / "peer_data", tmp_path / "other")  # a workspace with another split is caught


@pytest.mark.slow
def test_a_real_seeded_bayes_sweep_runs_the_peers_draws_as_its_start_up_trials(tmp_path, tiny_data):
    """`sweep create --seed` + `agent` with the engine's fake trials, on the benchmark's space: the trials it
    stored in SQLite are the peer's draws for that seed (and the check catches another seed's)."""
    k = startup_trials(SPACE["run_cap"])
    file = tmp_path / "bayes.yaml"
    spec = {**SPACE, "metric": {"name": "val_accuracy", "goal": "maximize"}}  # no target: a fake trial may hit it
    file.write_text(yaml.safe_dump(spec, sort_keys=False))
    env = {**os.environ, "INAT_CNN_FAKE_TRIAL_S": "0.05", "INAT_CNN_WARM_TRIAL": "0"}

    def inat(*args):
        done = subprocess.run([sys.executable, "-m", "inat_cnn", *map(str, args)], capture_output=True, text=True,
                              timeout=300, env=env, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        return done.stdout

    sweep_id = inat("sweep", "create", file, "--data", tiny_data, "--workspace", tmp_path / "ws",
                    "--seed", 6).split()[-1]
    inat("agent", sweep_id, "--data", tiny_data, "--workspace", tmp_path / "ws", "--count", k)
    url = f"sqlite:///{tmp_path / 'ws' / 'sweeps.db'}"
    study = optuna.load_study(study_name=sweep_id, storage=url)
    trials = [{"number": t.number, "params": dict(t.params)} for t in study.get_trials()]
    assert len(trials) == k
    assert check_ours_trials(trials, peer_draws(SPACE, 6, 40), k, 6) == k
    with pytest.raises(DrawsDiffer, match="seed 6, ours' sweep: trial 0 differs"):
        check_ours_trials(trials, peer_draws(SPACE, 7, 40), k, 6)


def test_a_random_sweep_checks_every_trial_against_the_shared_stream_and_a_bayes_one_its_start_up():
    random_space = {**SPACE, "method": "random"}
    assert startup_count(random_space, 40) == 40 and startup_count(SPACE, 40) == startup_trials(SPACE["run_cap"])
    draws = peer_draws(random_space, 2, 12)
    assert check_startup(random_space, 2, draws) == {"startup_trials": 12, "previewed_equal": 12}
    ran = [{"number": n, "params": dict(draws[n])} for n in (1, 0, 2)]  # two agents finish out of order
    assert check_ours_trials(ran, draws, startup_count(random_space, len(draws)), 2) == 3
    ran[2]["params"] = dict(peer_draws(random_space, 3, 3)[2])
    with pytest.raises(DrawsDiffer, match="trial 2 differs"):
        check_ours_trials(ran, draws, 12, 2)
