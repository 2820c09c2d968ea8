"""MODEL_CARD.md for an export: data and split fingerprint, training setup, metrics, how to reload."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from .records import SweepResult, TrialRecord, format_value

#: A model card's cell: 4 significant digits, 12,345 grouping, n/a for what was not measured.
_cell = partial(format_value, missing="n/a", thousands=True)

_METRIC_ROWS = (
    ("val_accuracy", "validation accuracy (best epoch)"), ("val_loss", "validation loss"),
    ("test_accuracy", "test accuracy (dataset's val/ folder)"), ("test_loss", "test loss"),
    ("best_epoch", "best epoch"), ("epochs_run", "epochs run"), ("params", "parameters"),
    ("trainable_params", "trainable parameters"), ("flops", "FLOPs per image"),
    ("layer_tuning_ratio", "layer tuning ratio"), ("parameter_tuning_ratio", "parameter tuning ratio"),
    ("wall_time_s", "training wall time (s)"), ("train_images_per_s", "training throughput (img/s)"),
    ("backend", "Keras backend"),
)


@dataclass
class EnsembleSummary:
    members: list[TrialRecord]
    test_accuracy: float | None
    best_single_test_accuracy: float | None
    skipped: list[str] = field(default_factory=list)
    kind: str = "top-k"  # top-k, snapshots, seeds
    folder: str = "ensemble"
    judged: Any = None  # inat_cnn.ensembles.build.Judged
    figure: Any = None  # its accuracy_vs_members.png, when measured


def render_model_card(result: SweepResult, best: TrialRecord, config: dict[str, Any], metrics: dict[str, Any],
                      ensemble: EnsembleSummary | None = None, extra: list[EnsembleSummary] = ()) -> str:
    """The card's Markdown text."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"# Model card: {best.name} of sweep {result.sweep_id}",
        "",
        f"Exported by `inat-cnn export best` on {stamp}: the best trial of sweep `{result.sweep_id}` "
        f"({result.backend} backend) by `{result.metric}` ({result.goal}), trial #{best.number} `{best.name}`"
        + (f", W&B run `{best.wandb_run_id}`" if best.wandb_run_id else "") + ".",
        "",
        *_data_section(config, metrics),
        "## Training setup",
        "",
        *_table(["key", "value"], [[k, _cell(v)] for k, v in sorted(config.items())]),
        "",
        "## Metrics",
        "",
        *_table(["metric", "value"], [[label, _cell(metrics[key])] for key, label in _METRIC_ROWS
                                      if metrics.get(key) is not None]),
        "",
    ]
    if ensemble is not None:
        lines += _ensemble_section(ensemble, result.metric)
    for summary in ([ensemble] if ensemble is not None else []) + list(extra):
        lines += judgement_section(summary)
    lines += _reload_section(config, ensemble is not None or bool(extra))
    return "\n".join(lines) + "\n"


def _data_section(config: dict[str, Any], metrics: dict[str, Any]) -> list[str]:
    classes = metrics.get("class_names") or []
    size = metrics.get("image_size") or config.get("image_size")
    return [
        "## Data",
        "",
        f"- classes ({len(classes)}): {', '.join(map(str, classes)) or 'unknown'}",
        f"- dataset fingerprint: `{metrics.get('fingerprint', 'unknown')}`",
        f"- split id: `{metrics.get('split_id', 'unknown')}` (validation = {config.get('val_fraction', 0.1)} "
        "of train/, class-balanced; test = the dataset's val/ folder)",
        f"- input: {size}×{size} RGB, float32 raw pixels 0..255 (preprocessing is inside the model), "
        f"resize `{config.get('resize', 'squash')}`",
        "",
    ]


def _ensemble_section(ensemble: EnsembleSummary, metric: str) -> list[str]:
    rows = [[str(i + 1), m.name, _cell(m.value), _cell(m.test_accuracy)] for i, m in enumerate(ensemble.members)]
    lines = [
        "## Top-k ensemble",
        "",
        f"`ensemble/model.keras` averages the softmax outputs of the {len(ensemble.members)} best trials:",
        "",
        *_table(["rank", "trial", f"best {metric}", "test accuracy"], rows),
        "",
        f"- ensemble test accuracy: {_cell(ensemble.test_accuracy)}",
        f"- best single model, same test data: {_cell(ensemble.best_single_test_accuracy)}",
    ]
    if ensemble.test_accuracy is None:
        lines.append("- (not measured: pass `--data ROOT` to `inat-cnn export best`, or run "
                     "`inat-cnn evaluate ensemble/model.keras --data ROOT`)")
    lines += [f"- skipped: {reason}" for reason in ensemble.skipped]
    return lines + [""]


_TITLES = {"top-k": "top-k ensemble", "snapshots": "snapshot ensemble", "seeds": "seed ensemble"}


def judgement_rows(judged: dict[str, Any]) -> list[list[str]]:
    """(model, members, test accuracy, params, FLOPs per image) rows of a judgement (``Judged.to_dict()``):
    each member, the best single model, each aggregation and the same-cost baseline, on the test split."""
    cost, members = judged.get("cost") or {}, judged["members"]
    rows = [[f"member {m['name']}", "1", _cell(m.get("test_accuracy")), _cell(p), _cell(f)]
            for m, p, f in zip(members, cost.get("member_params", []), cost.get("member_flops", []))]
    best = judged.get("best_single")
    if best:
        rows.append([f"best single model ({best['name']}, its own input)", "1", _cell(best.get("test_accuracy")),
                     _cell(cost.get("one_member_params")), _cell(cost.get("one_member_flops"))])
    for name, agg in judged["aggregations"].items():
        rows.append([f"ensemble, {name} (`{agg['file']}`)", str(len(members)), _cell(agg.get("test_accuracy")),
                     _cell(cost.get("ensemble_params")), _cell(cost.get("ensemble_flops"))])
    baseline = judged.get("baseline")
    if baseline:
        rows.append([f"same-cost baseline: {baseline['count']} copies of the best configuration (mean)",
                     str(baseline["count"]), _cell(baseline.get("test_accuracy")), "", ""])
    return rows


JUDGEMENT_COLUMNS = ["model", "members", "test accuracy", "params", "FLOPs per image"]


def judgement_notes(judged: dict[str, Any]) -> list[str]:
    """The lines under the table: missing baseline, greedy weights, the judgement's own notes."""
    lines = []
    if judged.get("baseline") is None:
        lines.append("same-cost baseline: no independently trained copies of the best configuration yet "
                     "(`inat-cnn export best --seeds N` trains them)")
    weights = judged["aggregations"].get("greedy", {}).get("weights")
    if weights:
        lines.append("greedy weights: " + ", ".join(f"{m['name']} {w:.2f}" for m, w in zip(judged["members"], weights)))
    return lines + list(judged.get("notes") or [])


def judgement_section(summary: EnsembleSummary) -> list[str]:
    """How the ensemble compares, on test, to its members, the best single model and the same-cost baseline."""
    if summary.judged is None:
        return []
    judged = summary.judged.to_dict()
    lines = [f"## Judged: the {_TITLES.get(summary.kind, summary.kind)} (`{summary.folder}/`)", "",
             f"Input: {judged['input_size']}×{judged['input_size']} raw pixels, resize `{judged['resize']}`; each "
             "member is resized to its own size inside the model. Greedy weights and the stacker were fitted on "
             "the validation split only; every figure below is on the test split.", "",
             *_table(JUDGEMENT_COLUMNS, judgement_rows(judged)), ""]
    if summary.figure is not None:
        lines.append(f"- accuracy against the number of members: `{summary.folder}/accuracy_vs_members.png`")
    lines += [f"- {line}" for line in judgement_notes(judged)]
    return lines + [""]


def reload_recipe(size: Any = "S", model_file: str = "model.keras") -> str:
    """The Python that reloads an export with plain Keras (no inat_cnn needed) and predicts."""
    return "\n".join([
        "import keras",
        "",
        f'model = keras.saving.load_model("{model_file}", safe_mode=True)  # plain Keras: no inat_cnn import',
        f"probs = model.predict(images)  # images: float32 (N, {size}, {size}, 3), raw RGB pixels 0..255",
    ])


def _reload_section(config: dict[str, Any], has_ensemble: bool) -> list[str]:
    lines = [
        "## How to reload",
        "",
        "The model holds only Keras' own layers (the backbone's preprocessing included), so any Python with "
        "Keras 3 loads it, without this project:",
        "",
        "```python",
        reload_recipe(config.get("image_size", "S")),
        "```",
        "",
        "From the command line: `inat-cnn evaluate . --data ROOT` (test accuracy, per-class accuracy, "
        "confusion matrix).",
    ]
    if has_ensemble:
        lines.append("The ensemble loads the same way (`ensemble/model.keras`), or "
                     "`inat-cnn evaluate ensemble/model.keras --data ROOT`.")
    return lines


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return out + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
