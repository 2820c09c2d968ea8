"""`inat-cnn train` and `inat-cnn model summary`: argument forms, precedence, exit codes."""

import json

import pytest
from wandb_files import read_wandb_run

from inat_cnn.cli.agent_args import agent_parameters as parse_agent_args
from inat_cnn.cli.main import main
from inat_cnn.cli.train_cmd import build_trial_config
from inat_cnn.errors import UserError


def run_cli(args) -> int:
    """Run the console entry point in-process; return its exit code."""
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    return exit_info.value.code or 0


def test_agent_argument_forms_parse_as_yaml_values():
    assert parse_agent_args(["--learning_rate=0.001", "--kernel_size=[3, 5]", "batch_norm=false"]) == {
        "learning_rate": 0.001, "kernel_size": [3, 5], "batch_norm": False}
    assert parse_agent_args(['{"filters": 16, "augment": true}']) == {"filters": 16, "augment": True}
    with pytest.raises(UserError, match="unexpected argument 'stray'"):
        parse_agent_args(["stray"])


def test_precedence_config_file_then_agent_args_then_set(tmp_path):
    path = tmp_path / "trial.yaml"
    path.write_text("filters: 8\nepochs: 4\ndense_units: 32\n")
    cfg = build_trial_config(path, ["epochs=2"], ["--epochs=3", "--filters=16"])
    assert (cfg.filters, cfg.epochs, cfg.dense_units) == (16, 2, 32)


def test_bad_set_value_exits_2_naming_the_key(capsys):
    assert run_cli(["train", "--data", ".", "--set", "dropout=1.5"]) == 2
    assert "dropout" in capsys.readouterr().err
    assert run_cli(["model", "summary", "--set", "conv_blocks=many"]) == 2
    assert "conv_blocks" in capsys.readouterr().err


def test_model_summary_prints_rows_totals_and_convention(capsys):
    assert run_cli(["model", "summary", "--set", "image_size=16", "--set", "conv_blocks=2", "--set", "filters=4",
                    "--classes", "3"]) == 0
    out = capsys.readouterr().out
    assert "block2_conv (Conv2D)" in out and "Total params:" in out and "multiply-add = 2 FLOPs" in out


@pytest.mark.slow
def test_train_command_runs_what_wandb_agent_passes(tiny_root, tmp_path, capsys):
    out = tmp_path / "trial"
    assert run_cli(["train", "--data", str(tiny_root), "--out", str(out), "--workspace", str(tmp_path / "ws"),
                    "--offline", "--image_size=24", "--conv_blocks=1", "--filters=4", "--dense_units=8",
                    "--epochs=1", "--viz=false"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["state"] == "finished" and metrics["image_size"] == 24
    assert str(tmp_path / "ws") in metrics["wandb_run_dir"]
    assert "best epoch 1" in capsys.readouterr().out


@pytest.mark.slow
def test_nan_loss_fails_the_trial_exit_1_with_its_reason(tiny_root, tmp_path, capsys):
    args = {"image_size": 24, "conv_blocks": 1, "filters": 4, "dense_units": 8, "epochs": 2, "viz": False,
            "learning_rate": 1e30, "optimizer": "sgd", "batch_norm": False}
    assert run_cli(["train", "--data", str(tiny_root), "--out", str(tmp_path / "t"), json.dumps(args)]) == 1
    assert "loss became NaN at epoch" in capsys.readouterr().err
    metrics = json.loads((tmp_path / "t" / "metrics.json").read_text())
    assert metrics["state"] == "failed" and "NaN" in metrics["fail_reason"]
    run = read_wandb_run(metrics["wandb_run_dir"])
    assert run["state"] == "failed" and run["exit_code"] == 1


def test_a_config_file_is_read_within_bounds(tmp_path):
    """`train --config` reads its YAML like a sweep file: an alias bomb is refused at once, not expanded."""
    import time
    from pathlib import Path

    bomb = Path(__file__).parents[1] / "spec" / "malformed" / "alias_bomb.yaml"
    start = time.process_time()
    with pytest.raises(UserError, match="once its aliases are expanded") as info:
        build_trial_config(bomb, None)
    assert time.process_time() - start < 1.0 and str(bomb) in str(info.value)
    huge = tmp_path / "huge.yaml"
    huge.write_text("filters: 8\n" * 20_000)
    with pytest.raises(UserError, match="is this the right file"):
        build_trial_config(huge, None)
