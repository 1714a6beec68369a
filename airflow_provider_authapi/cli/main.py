"""`airflow-authapi ...` (also `python -m airflow_provider_authapi.cli ...`): the `airflow authapi` commands for
Airflow 3.1, which does not read a provider's `cli` key (3.2 and later add `airflow authapi` themselves; there both
spellings run the same commands)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

PROG = "airflow-authapi"


def build_parser() -> argparse.ArgumentParser:
    """The `airflow authapi` command tree (cli.definition, the one copy) as a parser of its own."""
    from airflow_provider_authapi.cli.definition import get_authapi_cli_commands

    [group] = get_authapi_cli_commands()
    parser = argparse.ArgumentParser(prog=PROG, description=group.help)
    _add_subcommands(parser, group.subcommands)
    return parser


def _add_subcommands(parser: argparse.ArgumentParser, commands: Sequence[Any]) -> None:
    subparsers = parser.add_subparsers(dest="subcommand", metavar="COMMAND", required=True)
    for command in sorted(commands, key=lambda c: c.name):
        sub = subparsers.add_parser(command.name, help=command.help, description=command.description or command.help)
        if hasattr(command, "subcommands"):  # a GroupCommand
            _add_subcommands(sub, command.subcommands)
        else:  # an ActionCommand
            for arg in command.args:
                arg.add_to_parser(sub)
            sub.set_defaults(func=command.func)


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
