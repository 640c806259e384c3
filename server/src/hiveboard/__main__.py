"""``python -m hiveboard`` runs the CLI."""

from hiveboard.cli import main

main()
