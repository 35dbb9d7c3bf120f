"""The ``mdfnet`` command line: a thin layer over the Python API.

Each sub-command lives in ``mdfnet.commands.<name>`` and exposes ``register(subparsers)``, which adds
its parser and sets ``func``; ``func(args)`` returns the exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from mdfnet import __version__
from mdfnet.errors import InputError

COMMANDS = ("synth", "prepare", "train", "evaluate", "score", "compare", "predict", "ablate", "demo", "weights",
            "serve")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mdfnet", description="MDF-Net: detect chest X-ray abnormalities from the image and the clinical "
                                   "data together.")
    parser.add_argument("--version", action="version", version=f"mdfnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"mdfnet.commands.{name}").register(sub)
    return parser


def one_line_warnings() -> None:
    """Print warnings as ``warning: <message>`` (no source line): they are addressed to users, not developers."""
    warnings.formatwarning = lambda message, category, *args, **kwargs: f"warning: {message}\n"


def main(argv: list[str] | None = None) -> int:
    one_line_warnings()
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse takes positional key=value overrides only before the first option; accept them anywhere
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args) or 0)
    except InputError as err:
        print(f"mdfnet {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
