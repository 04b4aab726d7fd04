"""The command line over the same core as the app: `python -m linly_demo portrait|render|evaluate|verify ...`.

Guarantees: files the user names are only read (never modified, moved or copied), except the one output path a
user chooses for `render --out`; results are one JSON line on stdout; a rejected input exits 2 and any other
user-facing failure 1, each with a one-line reason on stderr and nothing left behind in the ephemeral root.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from linly_demo.cli import portrait, render, verify, voice
from linly_demo.cli.exit_codes import EXIT_BELOW_TARGET, EXIT_FAILED, EXIT_REJECTED
from linly_demo.errors import InputRejected, LinlyError

__all__ = ["EXIT_BELOW_TARGET", "EXIT_FAILED", "EXIT_REJECTED", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m linly_demo", description="linly-demo command line")
    commands = parser.add_subparsers(dest="command", required=True)
    portrait.add_commands(commands)
    render.add_commands(commands)
    voice.add_commands(commands)
    verify.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except InputRejected as exc:
        print(f"linly-demo: rejected: {exc.user_message}", file=sys.stderr)
        return EXIT_REJECTED
    except LinlyError as exc:
        print(f"linly-demo: error: {exc.user_message}", file=sys.stderr)
        return EXIT_FAILED
