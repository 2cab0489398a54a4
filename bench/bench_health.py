"""Training throughput with training health on versus off, interleaved A/B, in one run.

Trains a small convnet template (`batchnorm-convnet` by default) on synthetic data through
``core.training.train``, alternating runs with ``TrainingSettings.health`` on and off
(on, off, on, off, ...); medians per side, ratio on/off. Target: ratio >= 0.95.

Throughputs:
- steady: samples per second of each epoch after the first, timed from one epoch's
  ``on_epoch_end`` to the next, so each interval holds one health measurement (as in
  ``bench_training.py`` the first epoch, where the step functions are traced, is left out:
  health traces its graph there too); median over all those epochs of all runs, in wall
  time and in CPU time of this process (which other processes barely disturb);
- whole run: from ``on_train_begin`` to ``on_train_end``, set-up and tracing included.

On a shared machine wall times are noisy, so the time health itself takes is timed inside
the health-on runs too: its one-off cost (set-up, first measurement with the trace) and
its median per-epoch measurement.

    .venv/bin/python bench/bench_health.py [--rounds N] [--template NAME] [--samples N]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from layerforge.core.io.templates import load_template
from layerforge.core.schema.settings import DataSource, TrainingSettings
from layerforge.core.training import health_callback
from layerforge.core.training.fit import train

TARGET = 0.95
SPENT: list[float] = []  # seconds of each health set-up and measurement, this run


def timed(method: Any) -> Any:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            SPENT.append(time.perf_counter() - start)

    return wrapper


health_callback._Probe.__init__ = timed(health_callback._Probe.__init__)  # type: ignore[method-assign]
health_callback._Probe.measure = timed(health_callback._Probe.measure)  # type: ignore[method-assign]


class Clock:
    """Wall times of train begin, each epoch end and train end; counts health reports."""

    def __init__(self) -> None:
        self.begin = self.end = 0.0
        self.epoch_ends: list[tuple[float, float]] = []  # (wall, process CPU)
        self.reports = 0

    def on_train_begin(self, info: dict[str, Any]) -> None:
        self.begin = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch_ends.append((time.perf_counter(), time.process_time()))

    def on_health(self, report: dict[str, Any]) -> None:
        self.reports += 1

    def on_train_end(self, result: Any) -> None:
        self.end = time.perf_counter()


def one_run(template: str, health: bool, samples: int, epochs: int, batch: int,
            folder: Path) -> tuple[list[tuple[float, float]], float, list[float]]:
    """(samples/s (wall, CPU) of each epoch after the first, whole-run samples/s, health's
    own times) of one run."""
    SPENT.clear()
    doc = load_template(template)
    name = doc.graph.inputs()[0].name
    settings = TrainingSettings(batch_size=batch, epochs=epochs, seed=1, validation_split=0,
                                health=health,
                                data={name: DataSource("synthetic", {"samples": samples})})
    clock = Clock()
    result = train(doc, settings, run_dir=folder, reporter=clock)
    if result.status != "completed":
        raise SystemExit(f"run failed: {result.message}")
    if clock.reports != (epochs if health else 0):
        raise SystemExit(f"expected {epochs if health else 0} health reports, got "
                         f"{clock.reports}")
    ends = clock.epoch_ends
    steady = [(samples / (b[0] - a[0]), samples / (b[1] - a[1]))
              for a, b in itertools.pairwise(ends)]
    return steady, samples * epochs / (clock.end - clock.begin), list(SPENT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="A/B pairs (default 5)")
    parser.add_argument("--template", default="batchnorm-convnet")
    parser.add_argument("--samples", type=int, default=2048, help="training samples per run")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (at least 2)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    steady: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    whole: dict[bool, list[float]] = {True: [], False: []}
    once: list[float] = []  # health's set-up + first measurement, per run
    per_epoch: list[float] = []  # health's later measurements
    with tempfile.TemporaryDirectory() as tmp:
        one_run(args.template, True, args.batch_size * 2, 2, args.batch_size,
                Path(tmp) / "warm-up")  # imports and first kernels out of the measured runs
        for i in range(args.rounds):
            for health in (True, False):
                epochs, run, spent = one_run(args.template, health, args.samples,
                                             args.epochs, args.batch_size,
                                             Path(tmp) / f"{i}-{health}")
                steady[health] += epochs
                whole[health].append(run)
                if health:
                    once.append(spent[0] + spent[1])
                    per_epoch += spent[2:]
                rate = statistics.median(e[0] for e in epochs)
                print(f"round {i + 1} health {'on ' if health else 'off'}: steady "
                      f"{rate:8.1f} samples/s, whole run {run:8.1f} samples/s", flush=True)
    on = [statistics.median(e[k] for e in steady[True]) for k in (0, 1)] + \
        [statistics.median(whole[True])]
    off = [statistics.median(e[k] for e in steady[False]) for k in (0, 1)] + \
        [statistics.median(whole[False])]
    print(f"\n{args.template}, {args.samples} samples x {args.epochs} epochs, batch "
          f"{args.batch_size}, {args.rounds} A/B rounds (medians)")
    print(f"{'samples/s':12}{'health on':>12}{'health off':>12}{'ratio':>8}")
    for k, label in enumerate(("steady", "steady CPU", "whole run")):
        print(f"{label:12}{on[k]:12.1f}{off[k]:12.1f}{on[k] / off[k]:8.3f}")
    epoch_s = args.samples / off[0]
    step = statistics.median(per_epoch)
    print(f"health's own time: {statistics.median(once) * 1e3:.0f} ms once per run (set-up, "
          f"trace, first measurement), then {step * 1e3:.1f} ms per epoch "
          f"(an epoch: {epoch_s * 1e3:.0f} ms; implied steady ratio "
          f"{epoch_s / (epoch_s + step):.3f})")
    print(f"target steady ratio >= {TARGET}: {'met' if on[0] / off[0] >= TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
