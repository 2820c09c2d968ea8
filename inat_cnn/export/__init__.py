"""What leaves the workspace: `export best` (the best trial as a self-describing folder, with its
ensembles) and `evaluate` (a saved model judged on a dataset's test split).

Modules import their heavy dependencies (Keras, wandb) inside functions, so importing this package
stays cheap. It sits above ``report`` (it reads the sweep results and writes the model card).

- ``best.export_best(result, out, top_k=..., force=..., data_root=...) -> ExportResult``
- ``ensemble.build_ensemble(models)`` / ``ensemble.save_ensemble(paths, out)``
- ``ensemble_folders``: the top-k, snapshot and seed ensembles of an export
- ``evaluate.evaluate_saved_model(model, data_root) -> Evaluation``
"""
