"""Where a workspace keeps its files: sweeps.db, runs/, wandb/, cache/.

Default ``./inat_runs``; ``INAT_CNN_HOME`` or ``--workspace`` override it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def resolve(cls, root: str | os.PathLike[str] | None = None) -> Workspace:
        chosen = root or os.environ.get("INAT_CNN_HOME") or "inat_runs"
        return cls(Path(chosen).expanduser().resolve())

    @property
    def db_url(self) -> str:
        return f"sqlite:///{self.root / 'sweeps.db'}"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    @property
    def wandb_dir(self) -> Path:
        return self.root / "wandb"

    def trial_dir(self, sweep_id: str, trial_name: str) -> Path:
        return self.runs / sweep_id / trial_name

    def ensure(self) -> Workspace:
        for path in (self.root, self.runs, self.cache, self.wandb_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self
