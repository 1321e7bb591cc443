"""The ``lmcourse`` command.

    lmcourse info      versions, device, and where the corpus comes from
    lmcourse --help    this list

Later parts of the course add ``run`` (a notebook through papermill with a preset),
``train`` and ``sample``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def _info(args: argparse.Namespace) -> int:
    from lmcourse.utils import environment_report

    report = environment_report()
    width = max(map(len, report))
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
    if args.corpus:
        from lmcourse.data import load_text

        text = load_text("shakespeare")
        print(f"{'characters':<{width}}  {len(text):,} ({len(set(text))} distinct)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lmcourse",
        description="Language models from counting to GPT: the course's command-line tools.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    info = commands.add_parser(
        "info",
        help="versions, device, and where the corpus comes from",
        description="Print the versions, the compute device and where the corpus comes from.",
    )
    info.add_argument(
        "--corpus", action="store_true", help="also load the corpus and count its characters"
    )
    info.set_defaults(handler=_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
