"""`python -m inat_cnn` runs the CLI."""

from .cli import main

main()
