"""Entry point of the desktop app."""

from __future__ import annotations

import sys


def run(project: str | None = None, template: str | None = None,
        screenshot: str | None = None) -> int:
    """Open the app. The window is not built yet (issue 4): say so plainly."""
    print(
        "layerforge: the desktop window is not part of this build yet.\n"
        "Everything the engine does is available headless:\n"
        "  layerforge templates             list the chapter 7 templates\n"
        "  layerforge summary NAME_OR_FILE   layers, shapes, parameters, diagnostics\n"
        "  layerforge validate FILE          exit 0 only for a valid graph\n"
        "  layerforge export NAME_OR_FILE    the Keras code of a project",
        file=sys.stderr,
    )
    return 1 if screenshot else 0
