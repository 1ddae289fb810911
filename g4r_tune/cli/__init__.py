"""The command line: parses arguments, delegates to the library, and is the one error boundary.

Each ``*_cmds`` module registers its subcommands; handlers import heavy modules lazily so ``--help`` is fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from rich.console import Console

from g4r_tune import __version__
from g4r_tune.errors import G4RTuneError

from . import cluster_cmds, data_cmds, report_cmds, search_cmds, train_cmds

EXIT_USAGE = 2
EXIT_FAILURE = 1
_COMMAND_MODULES = (search_cmds, data_cmds, train_cmds, report_cmds, cluster_cmds)


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        Console(stderr=True, soft_wrap=True).print(
            f"[bold red]error:[/] {message}  (see `{self.prog} --help`)", highlight=False
        )
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="g4r-tune",
        description=(
            "Hyperparameter search for GRU4Rec session-based recommenders. "
            "`g4r-tune SPEC.yaml` runs a search and writes its report."
        ),
    )
    parser.add_argument("--version", action="version", version=f"g4r-tune {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show tracebacks and more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for module in _COMMAND_MODULES:
        module.register(sub)
    return parser


def _normalise_argv(argv: list[str], commands: set[str]) -> list[str]:
    """`g4r-tune SPEC.yaml ...` is short for `g4r-tune search SPEC.yaml ...`."""
    for i, arg in enumerate(argv):
        if arg.startswith("-"):
            continue
        if arg not in commands and (arg.endswith((".yaml", ".yml")) or os.path.isfile(arg)):
            return [*argv[:i], "search", *argv[i:]]
        return argv
    return argv


def _command_names(parser: argparse.ArgumentParser) -> set[str]:
    return {name for action in parser._subparsers._group_actions for name in action.choices}  # type: ignore[union-attr]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args_list = _normalise_argv(list(sys.argv[1:] if argv is None else argv), _command_names(parser))
    args = parser.parse_args(args_list)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    console = Console(stderr=False)
    err_console = Console(stderr=True, soft_wrap=True)  # one line, never wrapped
    try:
        return int(args.func(args, console) or 0)
    except G4RTuneError as err:
        if args.verbose:
            err_console.print_exception(show_locals=False)
        err_console.print(f"[bold red]error:[/] {err}", highlight=False)
        return err.exit_code
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        return 130
    except Exception as err:  # an unexpected bug: one line unless -v
        if args.verbose:
            err_console.print_exception(show_locals=False)
        else:
            err_console.print(
                f"[bold red]internal error:[/] {type(err).__name__}: {err}  (run with -v for the traceback)",
                highlight=False,
            )
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
