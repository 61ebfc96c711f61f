"""The ``gencredits`` command line: thin Typer commands over ``gencredits.service``."""

from gencredits.cli.app import app, main

__all__ = ["app", "main"]
