"""``python -m loom`` runs the command line."""

from loom.app.cli import main

main()
