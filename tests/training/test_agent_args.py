"""Agent argv back to typed parameters (pure): literals first, then YAML; the run's sampled values win ties."""

import pytest

from inat_cnn.cli.agent_args import agent_parameters, read_param_file
from inat_cnn.errors import UserError


def test_values_read_back_as_the_agent_rendered_them():
    argv = ["--learning_rate=3e-05", "--filters=[4, 8]", "--augment=True", "--dense_units=None", "optimizer=adam",
            "--weights", "none", "--batch_norm", "--kernel_size=[3,5]", "--viz=false"]
    assert agent_parameters(argv) == {"learning_rate": 3e-05, "filters": [4, 8], "augment": True,
                                      "optimizer": "adam", "weights": "none", "batch_norm": True,
                                      "kernel_size": [3, 5], "viz": False}


def test_the_sampled_values_are_the_base_and_keep_their_type_when_argv_only_renders_them():
    sampled = {"weights": "True", "batch_norm": False, "epochs": 3, "dense_units": None}
    # `--weights=True` is how the agent renders the string "True": the typed value stays a string
    assert agent_parameters(["--weights=True", "--epochs=3"], sampled) == {"weights": "True", "batch_norm": False,
                                                                         "epochs": 3}
    assert agent_parameters(["--epochs=5"], sampled)["epochs"] == 5  # argv saying something else wins


def test_the_agent_parameter_file(tmp_path):
    path = tmp_path / "config-r1.yaml"
    path.write_text("wandb_version: 1\n\nbatch_norm:\n  value: false\nfilters:\n  value:\n  - 4\n  - 8\n")
    assert read_param_file(path) == {"batch_norm": False, "filters": [4, 8]}
    path.write_text("- not a mapping\n")
    with pytest.raises(UserError, match="WANDB_SWEEP_PARAM_PATH"):
        read_param_file(path)


@pytest.mark.parametrize("argv,message", [(["stray"], "unexpected argument 'stray'"),
                                          (["/nope/p.json"], "does not exist"),
                                          (["[1, 2]"], "unexpected argument"),
                                          (['{"a": 1'], "cannot parse the JSON parameters")])
def test_what_no_macro_writes_is_a_clear_error(argv, message):
    with pytest.raises(UserError, match=message):
        agent_parameters(argv)
