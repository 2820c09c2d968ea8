"""`inat-cnn data synth|inspect|prepare` (filled by the data layer)."""

import typer

app = typer.Typer(help="Datasets: synthesize, inspect, build the decode cache.", no_args_is_help=True)
