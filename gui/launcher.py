"""The ``layerforge`` console script: the headless CLI, plus the desktop app.

Qt is imported only when the app opens, so ``layerforge --help`` stays instant.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from layerforge.core.cli import main as cli


def open_app(args: argparse.Namespace) -> int:
    from .app import run

    return run(getattr(args, "project", None), getattr(args, "template", None),
               getattr(args, "screenshot", None))


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(argv, gui=open_app)


if __name__ == "__main__":
    raise SystemExit(main())
