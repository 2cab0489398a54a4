"""Training health: the per-layer report of each epoch, the flags drawn from it, and the run
folder's ``health.jsonl``.

Plain Python (no Keras, no TensorFlow), so the Runs dock can replay a finished run without
the worker. The statistics themselves are measured by ``health_callback.HealthCallback``.

A report, one per epoch (also what the reporter's ``on_health`` receives)::

    {"epoch": 0,                                    # 0-based, as Keras counts
     "layers": {keras_layer_name: {"weight_norm": float | None, "grad_norm": float | None,
                                   "update_ratio": float | None,
                                   "dead_fraction": float | None, "nonfinite": int}},
     "flags": [{"layer": keras_layer_name, "kind": "dead" | "vanishing" | "nonfinite",
                "message": str}]}

``layers`` is in the model's layer (topological) order. A norm that is NaN or Inf is
``None`` (JSON has no NaN); ``nonfinite`` counts the NaN/Inf values of the layer's output.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

HEALTH_FILE = "health.jsonl"
STATS = ("weight_norm", "grad_norm", "update_ratio", "dead_fraction", "nonfinite")
KINDS = ("dead", "vanishing", "nonfinite")
DEAD_FRACTION = 0.9  # more than this share of a ReLU's units at 0 on the whole batch: dead
VANISHING_RATIO = 1e-7  # a gradient norm below this share of the epoch's largest: vanishing


def layer_stats(weight_norm: float | None = None, grad_norm: float | None = None,
                update_ratio: float | None = None, dead_fraction: float | None = None,
                nonfinite: int = 0) -> dict[str, Any]:
    """One layer's entry, as plain Python numbers; a NaN or Inf statistic becomes None."""
    return {"weight_norm": _number(weight_norm), "grad_norm": _number(grad_norm),
            "update_ratio": _number(update_ratio), "dead_fraction": _number(dead_fraction),
            "nonfinite": int(nonfinite)}


def _number(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def health_report(epoch: int, layers: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The epoch's report: its layers (in model order) and the flags they raise."""
    return {"epoch": int(epoch), "layers": layers, "flags": health_flags(layers)}


def health_flags(layers: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """The flags of one epoch's layers, which are given in the model's layer order: dead
    ReLUs, vanishing gradients and the first layer whose output holds NaN or Inf (only the
    first: the layers after it are contaminated by it, not faulty themselves)."""
    flags: list[dict[str, str]] = []
    grads = [s["grad_norm"] for s in layers.values() if s.get("grad_norm") is not None]
    largest = max(grads, default=0.0)
    largest_name = next((n for n, s in layers.items() if s.get("grad_norm") == largest), "")
    first_nonfinite = True
    for name, s in layers.items():
        dead = s.get("dead_fraction")
        is_dead = dead is not None and dead > DEAD_FRACTION
        if is_dead:
            flags.append(_flag(name, "dead", f"{dead * 100:.0f} % of units output 0 on the whole "
                                             "sample batch (dead ReLU)"))
        grad = s.get("grad_norm")
        # a dead layer's own gradient is 0 because it is dead: one flag says so
        if grad is not None and largest > 0 and grad < VANISHING_RATIO * largest and not is_dead:
            flags.append(_flag(name, "vanishing", f"gradient norm {grad:.3g} is under 1e-7 of "
                                                  f"the largest layer's ({largest_name}: "
                                                  f"{largest:.3g}) (vanishing gradient)"))
        count = int(s.get("nonfinite") or 0)
        if count > 0 and first_nonfinite:
            first_nonfinite = False
            flags.append(_flag(name, "nonfinite", f"{count} NaN/Inf value(s) in its output on "
                                                  "the sample batch: the first layer where they "
                                                  "appear"))
    return flags


def _flag(layer: str, kind: str, message: str) -> dict[str, str]:
    return {"layer": layer, "kind": kind, "message": message}


def flags_line(report: dict[str, Any], limit: int = 3) -> str:
    """The report's first flags on one line: ``epoch 1: dense_1: 94 % of units output 0
    ...; and 2 more`` (epochs counted from 1, as the progress bar does)."""
    flags = report.get("flags", [])
    line = "; ".join(f"{f['layer']}: {f['message']}" for f in flags[:limit])
    more = f"; and {len(flags) - limit} more" if len(flags) > limit else ""
    return f"epoch {int(report.get('epoch', 0)) + 1}: {line}{more}"


# ------------------------------------------------------------------ the run folder
def append_health(run_dir: str | os.PathLike[str], report: dict[str, Any]) -> None:
    """Add the epoch's report to the run's health.jsonl, one line per epoch."""
    with open(Path(run_dir) / HEALTH_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps(report, allow_nan=False) + "\n")


def read_health(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The run's reports, in epoch order; [] when it has none. A line cut short (a run killed
    while writing) is skipped."""
    path = Path(run_dir) / HEALTH_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    reports = []
    for line in text.splitlines():
        try:
            report = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(report, dict) and isinstance(report.get("layers"), dict):
            reports.append(report)
    return reports


def last_flagged(reports: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last report that raised any flag."""
    return next((r for r in reversed(reports) if r.get("flags")), None)
