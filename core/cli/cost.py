"""``layerforge summary --latency``: the model's measured latency per batch on this machine,
beside the counted FLOPs and weights memory the summary always prints.

Building and running the model imports TensorFlow, so only ``--latency`` does it.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..document.document import Document
from ..schema.errors import LayerForgeError
from ..training.latency import latency_text, measure_latency
from .trust import require_trust


def add_cost_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--latency", action="store_true",
                        help="also measure the inference time of one batch of synthetic "
                             "inputs on this machine (builds and runs the model)")
    parser.add_argument("--batch-size", type=_positive, default=32, metavar="N",
                        help="samples per batch for --latency (default 32)")
    parser.add_argument("--repeats", type=_positive, default=10, metavar="N",
                        help="timed batches for --latency; the median is shown (default 10)")


def add_latency(doc: Document, args: argparse.Namespace, data: dict[str, Any]) -> None:
    """Measure when ``--latency`` asks: ``data["latency"]`` gets the measurement."""
    if not args.latency:
        return
    require_trust(doc, args, "summary --latency")
    if not data["valid"]:
        raise LayerForgeError("summary --latency runs the model: expected a valid model; "
                              f"received {args.project} with errors (run `layerforge "
                              "validate` to see them)")
    data["latency"] = measure_latency(doc, args.batch_size, args.repeats)


def latency_lines(data: dict[str, Any]) -> list[str]:
    """The summary's latency line, when it was measured."""
    return [f"Latency: {latency_text(data['latency'])}"] if "latency" in data else []


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1; received "
                                         f"'{text}'")
    return value
