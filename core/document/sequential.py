"""Whether a graph is a single chain of layers, the shape a ``keras.Sequential`` model has.

A block imported from a nested ``keras.Sequential`` remembers it (``Block.sequential``) and
comes back as one in the code while its graph stays such a chain.
"""

from __future__ import annotations

from ..schema.records import CallNode, InputNode, OutputNode
from .graph import Graph


def chain_calls(graph: Graph) -> list[CallNode]:
    """The calls of ``graph`` from its input to its output, when the graph is one chain:
    one input, one output, each layer called once without call settings, on the tensor the
    step before it made. Raises ``ValueError`` saying what breaks the chain otherwise."""
    inputs = [n for n in graph.nodes.values() if isinstance(n, InputNode)]
    outputs = [n for n in graph.nodes.values() if isinstance(n, OutputNode)]
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(f"{len(inputs)} inputs and {len(outputs)} outputs")
    calls: list[CallNode] = []
    current = inputs[0].id
    while True:
        leaving = graph.out_edges(current)
        if len(leaving) != 1 or leaving[0].src_index != 0:
            raise ValueError(f"{len(leaving)} edges leaving '{_label(graph, current)}'")
        step = graph.nodes[leaving[0].dst]
        if len(graph.in_edges(step.id)) != 1 or leaving[0].dst_slot != 0:
            raise ValueError(f"'{_label(graph, step.id)}' takes more than one tensor")
        if isinstance(step, OutputNode):
            break
        assert isinstance(step, CallNode)
        if step.call_kwargs or len(graph.calls_of(step.layer_id)) != 1:
            raise ValueError(f"layer '{_label(graph, step.id)}' is called with call settings "
                             "or more than once")
        calls.append(step)
        current = step.id
    if not calls or len(calls) + 2 != len(graph.nodes):
        raise ValueError("no layer between input and output" if not calls else
                         "nodes off the chain from the input to the output")
    return calls


def chain_problem(graph: Graph) -> str | None:
    """What keeps ``graph`` from being a single chain, or None when it is one."""
    try:
        chain_calls(graph)
    except ValueError as exc:
        return str(exc)
    return None


def _label(graph: Graph, node_id: str) -> str:
    node = graph.nodes[node_id]
    return graph.layer(node.layer_id).name if isinstance(node, CallNode) else \
        str(getattr(node, "name", node_id))
