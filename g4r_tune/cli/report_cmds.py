"""CLI: `report` commands (placeholder until its issue lands)."""

from __future__ import annotations

import argparse

SUBCOMMANDS: tuple[str, ...] = ()


def register(sub: argparse._SubParsersAction) -> None:
    """Add this module's subcommands to the top-level parser."""
