"""Sweep results: the offline HTML report and parameter importance (`export best`, ensembles and
`evaluate` are in ``inat_cnn.export``).

Modules import their heavy dependencies (Optuna, Keras, plotly, scikit-learn,
wandb) inside functions, so importing this package stays cheap.

- ``results.read_sweep_results(sweep_id, backend=..., storage=..., workspace=...) -> SweepResult``
- ``dashboard.write_report(result, out) -> ReportOutput``
- ``importance.parameter_importance(rows, values, names) -> list[Importance]``
"""
