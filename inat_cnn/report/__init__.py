"""Sweep results: the offline HTML report, parameter importance, `export best`, ensembles, `evaluate`.

Modules import their heavy dependencies (Optuna, Keras, plotly, scikit-learn,
wandb) inside functions, so importing this package stays cheap.

- ``results.load_sweep(sweep_id, backend=..., storage=..., workspace=...) -> SweepResult``
- ``dashboard.write_report(result, out) -> ReportOutput``
- ``importance.parameter_importance(rows, values, names) -> list[Importance]``
- ``export.export_best(result, out, top_k=..., force=..., data_root=...) -> ExportResult``
- ``ensemble.build_ensemble(models)`` / ``ensemble.save_ensemble(paths, out)``
- ``evaluate.evaluate_saved_model(model, data_root) -> Evaluation``
"""
