"""``layerforge ensemble``: combine trained runs into one model, headless.

Imports TensorFlow only when the ensemble is built (``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from ..tuning.ensemble import build_ensemble, export_ensemble


def add_ensemble_parser(subparsers: Any) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "ensemble", help="combine two or more trained runs into one model",
        description="Evaluate runs (or study trials) on their validation data, average their "
                    "predictions (equally, or with weights fitted by Nelder-Mead on the "
                    "validation loss) and save the ensemble as one Keras model.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run or trial folders")
    p.add_argument("--method", choices=["mean", "weighted"], default="weighted")
    p.add_argument("-o", "--output", metavar="OUT.keras", required=True,
                   help="the ensemble as a .keras file")
    p.add_argument("--code", metavar="OUT.py", help="also write the ensemble as generated code")
    p.add_argument("--project", metavar="OUT.json",
                   help="also write it as a LayerForge project (weights beside it)")
    p.add_argument("--json", action="store_true", help="print the scores and weights as JSON")
    return p


def run_ensemble(args: argparse.Namespace) -> int:
    ensemble = build_ensemble(args.runs, args.method)
    export_ensemble(ensemble, args.output, code=args.code, project=args.project)
    if args.json:
        print(json.dumps(ensemble_record(ensemble), indent=1))
    else:
        print_scores(ensemble, sys.stdout)
    written = [p for p in (args.output, args.code, args.project) if p]
    print(f"wrote {', '.join(written)}", file=sys.stderr)
    return 0


def ensemble_record(ensemble: Any) -> dict[str, Any]:
    return {"method": ensemble.method,
            "members": [{"run_dir": str(m.run_dir), "weight": w, "loss": s.loss,
                         "metrics": s.metrics}
                        for m, w, s in zip(ensemble.members, ensemble.weights,
                                           ensemble.member_scores, strict=True)],
            "ensemble": {"loss": ensemble.score.loss, "metrics": ensemble.score.metrics}}


def print_scores(ensemble: Any, out: TextIO) -> None:
    """A table: each member's weight, validation loss and metrics, then the ensemble's."""
    keys = sorted(ensemble.score.metrics)
    header = ["", "weight", "val loss", *[f"val {k}" for k in keys], "run"]
    rows = [[m.name, f"{w:.3f}", f"{s.loss:.4f}", *[f"{s.metrics.get(k, 0):.4f}" for k in keys],
             str(m.run_dir)]
            for m, w, s in zip(ensemble.members, ensemble.weights, ensemble.member_scores,
                               strict=True)]
    rows.append([f"ensemble ({ensemble.method})", "1.000", f"{ensemble.score.loss:.4f}",
                 *[f"{ensemble.score.metrics.get(k, 0):.4f}" for k in keys], ""])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        out.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")
