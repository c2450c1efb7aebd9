"""Tollgate composition root: settings, process wiring and the CLI."""
