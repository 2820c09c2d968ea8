"""The HTML report's "Ensembles" section: the judgement the latest `export best --data` left beside the trials.

The export writes ``ensembles.json`` into the sweep's runs folder (``export.ensemble_folders.write_judgement``);
this section shows it with the same rows as the model card, on the test split, and each ensemble's
accuracy-against-members figure from the export folder when it is still there.
"""

from __future__ import annotations

from pathlib import Path

from . import html as h
from .model_card import JUDGEMENT_COLUMNS, judgement_notes, judgement_rows
from .records import SweepResult, read_json

#: Where the HTML report finds the latest export's judgement: beside the sweep's trial folders.
JUDGEMENT_FILE = "ensembles.json"
_TITLES = {"top-k": "Top-k ensemble", "snapshots": "Snapshot ensemble", "seeds": "Seed ensemble"}


def judgement_of(result: SweepResult) -> dict | None:
    folders = {t.trial_dir.parent for t in result.trials if t.trial_dir is not None}
    for folder in sorted(folders):
        data = read_json(folder / JUDGEMENT_FILE)
        if data.get("sweep_id") == result.sweep_id and data.get("ensembles"):
            return data
    return None


def ensemble_section(result: SweepResult) -> str:
    data = judgement_of(result)
    if data is None:
        return h.section("Ensembles", h.note("No ensemble judged yet: run `inat-cnn export best SWEEP --out DIR "
                                             "--top-k 3 --data ROOT` (also --snapshots, --seeds N)."),
                         anchor="ensembles")
    parts = [h.note(f"From the export in {data.get('export')} (best trial {data.get('best')}); aggregations "
                    "fitted on the validation split, every accuracy on the test split.")]
    for judged in data["ensembles"]:
        parts.append(f"<h3>{h.esc(_TITLES.get(judged['kind'], judged['kind']))} ({len(judged['members'])} members, "
                     f"input {h.esc(judged.get('input_size'))} px)</h3>")
        parts.append(h.table(JUDGEMENT_COLUMNS, judgement_rows(judged)))
        parts += [h.note(line) for line in judgement_notes(judged)]
        png = Path(str(data.get("export", ""))) / judged["folder"] / "accuracy_vs_members.png"
        if png.is_file():
            parts.append(h.image_figure(png, f"{judged['kind']}: test accuracy against the number of members"))
    return h.section("Ensembles", *parts, anchor="ensembles")
