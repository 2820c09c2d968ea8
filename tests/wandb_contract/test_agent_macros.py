"""Every argument macro of the stock W&B agent gives `inat-cnn train` exactly the sampled values and types.

wandb's Agent builds the argv (the process start is recorded, not run); the argv is then parsed
by the real `inat-cnn train` command line, and (slow) run as the trial.
"""

import json
from pathlib import Path

import pytest
import wandb
import yaml
from stock_agent import SWEEP_ID, server_args
from typer.main import get_command
from wandb_files import read_wandb_run

from inat_cnn.cli.agent_args import agent_parameters, sweep_run_params
from inat_cnn.cli.main import app, main
from inat_cnn.cli.train_cmd import build_trial_config

MACROS = ["${args}", "${args_no_hyphens}", "${args_no_boolean_flags}", "${args_no_equals}", "${args_json}",
          "${args_json_file}"]
# Types that a str() rendering loses: a float without a dot (3e-05), lists, both booleans, a null (the default).
SAMPLED = {"model": "scratch", "image_size": 16, "conv_blocks": 2, "filters": [4, 8], "kernel_size": [3, 5],
           "batch_norm": False, "augment": True, "viz": False, "dropout": 0.25, "learning_rate": 3e-05,
           "weight_decay": 0.0, "optimizer": "nadam", "activation": "gelu", "epochs": 1, "batch_size": 16,
           "label_smoothing": 0.1, "dense_units": None}
EXPECTED = {**{k: v for k, v in SAMPLED.items() if v is not None}, "dense_units": 512}  # None: the default
TRAIN = get_command(app).commands["train"]


def _command(macro: str) -> list[str]:
    return ["${env}", "inat-cnn", "train", "--metric=val_loss", macro]


def _parse(argv: list[str], sampled: dict | None):
    """`inat-cnn train`'s own parsing of an argv (click, then the trial config), without training."""
    assert argv[:3] == ["/usr/bin/env", "inat-cnn", "train"]
    ctx = TRAIN.make_context("train", list(argv[3:]))
    return ctx.params, build_trial_config(None, None, ctx.args, sampled=sampled)


def _same(actual: dict, expected: dict) -> None:
    for key, value in expected.items():
        assert actual[key] == value and type(actual[key]) is type(value), (key, actual[key], value)


@pytest.mark.parametrize("macro", MACROS)
def test_each_macro_parses_to_the_sampled_values_and_types(stock_agent, macro):
    launched = stock_agent.run(_command(macro), server_args(SAMPLED), f"run-{MACROS.index(macro)}", spawn=False)
    sampled = sweep_run_params()  # the parameter file the agent just wrote, named in WANDB_SWEEP_PARAM_PATH
    assert sampled == SAMPLED and launched.env["WANDB_SWEEP_PARAM_PATH"]
    params, config = _parse(launched.argv, sampled)
    assert params["metric"] == "val_loss"
    _same(config.model_dump(), EXPECTED)


@pytest.mark.parametrize("macro", [m for m in MACROS if m != "${args_no_boolean_flags}"])
def test_argv_alone_round_trips_the_types(stock_agent, macro):
    """Without the parameter file too: the argv alone carries every value with its type (None dropped)."""
    launched = stock_agent.run(_command(macro), server_args(SAMPLED), "run-argv", spawn=False)
    values = agent_parameters(launched.argv[4:])
    assert values == {k: v for k, v in SAMPLED.items() if v is not None}
    _same(values, {k: v for k, v in SAMPLED.items() if v is not None})


def test_a_false_flag_missing_from_argv_comes_from_the_run_parameters(stock_agent):
    launched = stock_agent.run(_command("${args_no_boolean_flags}"), server_args(SAMPLED), "run-flags", spawn=False)
    assert "--augment" in launched.argv and not any("batch_norm" in a or "viz" in a for a in launched.argv)
    assert agent_parameters(launched.argv[4:], sweep_run_params())["batch_norm"] is False
    _, config = _parse(launched.argv, sweep_run_params())
    assert config.batch_norm is False and config.viz is False  # not the defaults (True)


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[2].joinpath("sweeps").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_shipped_sweep_runs_under_the_stock_agent(stock_agent, path):
    from wandb.sdk.launch.sweeps.utils import load_sweep_config

    from inat_cnn.engine.wandb_backend import wandb_sweep_config
    from inat_cnn.spec import load_sweep

    sweep = load_sweep_config(str(path))  # what `wandb sweep FILE` reads and sends
    assert sweep.get("command"), f"{path.name} has no command: the stock agent would run `python None`"
    sampled = {k: p["values"][0] if "values" in p else p.get("value", p.get("min")) for k, p in
               sweep["parameters"].items()}
    launched = stock_agent.run(sweep["command"], server_args(sampled), f"run-{path.stem}", spawn=False)
    params, config = _parse(launched.argv, sweep_run_params())
    assert params["metric"] == sweep["metric"]["name"]
    _same(config.model_dump(), sampled)
    # `inat-cnn sweep create --backend wandb` sends the same command, not a second one
    assert wandb_sweep_config(load_sweep(path))["command"] == sweep["command"]


@pytest.mark.slow
@pytest.mark.parametrize("macro", ["${args_no_equals}", "${args_json_file}"])  # the stop test runs the flags form
def test_the_agent_argv_trains_the_sampled_trial(stock_agent, macro, tmp_path, monkeypatch):
    launched = stock_agent.run(_command(macro), server_args(SAMPLED), f"train-{MACROS.index(macro)}", spawn=False)
    for key in ("WANDB_RUN_ID", "WANDB_SWEEP_PARAM_PATH", "WANDB_SWEEP_ID"):
        monkeypatch.setenv(key, launched.env[key])
    wandb.teardown()  # a fresh trial process reads the agent's environment
    try:
        with pytest.raises(SystemExit) as exited:
            main(launched.argv[2:])
    finally:
        wandb.teardown()
    assert exited.value.code in (0, None)
    [trial] = (tmp_path / "ws" / "runs" / f"wandb-{SWEEP_ID}").iterdir()  # keyed by the W&B run id
    _same(yaml.safe_load((trial / "config.yaml").read_text()), EXPECTED)
    metrics = json.loads((trial / "metrics.json").read_text())
    assert (metrics["state"], metrics["metric"], metrics["goal"]) == ("finished", "val_loss", "minimize")
    run = read_wandb_run(metrics["wandb_run_dir"])
    assert run["run_id"] == launched.env["WANDB_RUN_ID"] and run["exit_code"] == 0
    # the W&B run's config holds the same values (read back as JSON, where 0.0 prints as 0)
    assert all(run["config"][k] == v and isinstance(run["config"][k], bool) == isinstance(v, bool)
               for k, v in EXPECTED.items()), run["config"]
