"""View → Colour Nodes By → FLOPs share: each layer call coloured by its share of the shown
graph's FLOPs per sample (the live pass's count, ``core.analysis.cost``)."""

from __future__ import annotations

import math
from typing import Any

from layerforge.core.analysis.cost import CONVENTION, Cost, node_costs
from layerforge.core.document.document import MAIN

from ..canvas.colouring import NodeColouring, install_colouring
from ..session import EditorSession

NAME = "FLOPs share"
TIP = f"Colour each layer by its share of the FLOPs per sample ({CONVENTION})"


def flops_colouring(session: EditorSession, graph_key: str = MAIN) -> NodeColouring | None:
    """Each call node's share of the graph's counted FLOPs (0..1); a node whose FLOPs are
    unknown gets NaN (drawn as "no value") and says so. None until Keras is ready or when
    the graph has no layer calls."""
    if not session.keras_ready:
        return None
    if graph_key != MAIN and graph_key not in session.doc.blocks:
        graph_key = MAIN
    costs = node_costs(session.engine(graph_key))
    if not costs:
        return None
    total = sum(c.flops for c in costs.values() if c.known)
    values: dict[str, float] = {}
    labels: dict[str, str] = {}
    for node_id, cost in costs.items():
        values[node_id], labels[node_id] = _value_and_label(cost, total)
    return NodeColouring("Share of FLOPs per sample", values, labels,
                         value_text=lambda v: f"{v * 100:.3g} %")


def _value_and_label(cost: Cost, total: int) -> tuple[float, str]:
    if not cost.known:
        return math.nan, f"FLOPs unknown ({cost.text()})"
    share = cost.flops / total if total else 0.0
    return share, f"{share * 100:.3g} % of FLOPs ({cost.text()})"


def install_flops_colouring(window: Any) -> None:
    """Register the colouring on the window's View → Colour Nodes By menu. ``window``:
    ``session``, ``view`` and what ``install_colouring`` needs."""
    install_colouring(window).register_colouring(
        NAME, lambda: flops_colouring(window.session, window.view.graph_key), TIP)


def install_cost(window: Any, worker: Any | None) -> None:
    """The window's cost features: the FLOPs colouring, and the Summary dock's "Measure
    latency" served by ``worker`` (the window's ``WarmWorker``; None: the button stays off)."""
    install_flops_colouring(window)
    window.summary.set_worker(worker)
