"""wandb's real Agent in a process of its own, as `wandb agent` runs: one server command, then wait for the run.

    python agent_process.py TYPE RUN_ID COMMAND_JSON PARAMS_JSON PID_FILE

TYPE is the server's command: ``run`` (a new run) or ``resume`` (a run W&B re-queued after a preemption,
same run id). wandb's ``Agent._process_command`` dispatches it, builds the argv and starts the run; the
run's pid goes to PID_FILE and the exit status is the run's. No SIGTERM handler, as the stock agent
without ``--forward-signals``: a scheduler's SIGTERM ends this process at once.
"""

import json
import multiprocessing
import sys
from pathlib import Path

from stock_agent import SWEEP_ID, server_args
from wandb import wandb_agent


def main() -> int:
    kind, run_id, command, params, pid_file = sys.argv[1], sys.argv[2], *map(json.loads, sys.argv[3:5]), sys.argv[5]
    agent = wandb_agent.Agent(api=None, queue=multiprocessing.Queue(), sweep_id=SWEEP_ID)
    agent._sweep_command = list(command)
    response = agent._process_command({"type": kind, "run_id": run_id, "program": None, "args": server_args(params)})
    if "exception" in response:
        print(response, file=sys.stderr)
        return 3
    process = agent._run_processes[run_id]
    Path(pid_file).write_text(str(process._popen.pid))
    return process.wait()


if __name__ == "__main__":
    sys.exit(main())
