"""``python -m conda_standin ...`` runs the stand-in CLI."""

from __future__ import annotations

from .cli import main

main()
