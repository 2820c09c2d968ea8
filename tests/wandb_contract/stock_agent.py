"""wandb's real Agent fed a server's messages by hand (see conftest.py for the environment)."""

from __future__ import annotations

from dataclasses import dataclass, field

from wandb import wandb_agent

SWEEP_ID = "contract01"


@dataclass
class Launched:
    """What the agent started for one run: the process (or None when recorded only), argv and env."""

    argv: list[str]
    env: dict[str, str]
    process: object | None = None
    run_id: str = ""


@dataclass
class StockAgent:
    """wandb's real Agent, fed the server's messages by hand."""

    agent: wandb_agent.Agent
    launched: list[Launched] = field(default_factory=list)

    def run(self, command: list, args: dict, run_id: str, spawn: bool) -> Launched:
        """Hand the agent a sweep command and a server "run" message; return what it launched."""
        self.agent._sweep_command = list(command)
        recorded: list[Launched] = []

        def record(command=None, env=None, **kwargs):
            recorded.append(Launched(list(command), dict(env)))
            return recorded[-1]

        if spawn:
            self.agent._command_run({"type": "run", "run_id": run_id, "program": None, "args": args})
            proc = self.agent._run_processes[run_id]
            launched = Launched(list(proc._popen.args), {}, proc, run_id)
        else:
            original = wandb_agent.AgentProcess
            wandb_agent.AgentProcess = record
            try:
                self.agent._command_run({"type": "run", "run_id": run_id, "program": None, "args": args})
            finally:
                wandb_agent.AgentProcess = original
            launched = recorded[-1]
            launched.run_id = run_id
            self.agent._run_processes.pop(run_id, None)
        self.launched.append(launched)
        return launched

    def stop(self, run_id: str) -> None:
        """The server's "stop" command for a run (what hyperband sends)."""
        self.agent._command_stop({"type": "stop", "run_id": run_id})


def server_args(params: dict) -> dict:
    """Sampled values as the server's run command carries them."""
    return {name: {"value": value} for name, value in params.items()}
