"""Mutated project files (templates and hand-made projects; structural and byte-level
mutations) end in a LayerForge message or a working project: never a traceback, never a run
over 5 s, and every accepted file saves and reloads to equal records.

500 files in the normal run, 10,000 under ``-m slow``. The base seed is fixed; set
LAYERFORGE_FUZZ_SEED to explore others (a failure names the seed and index to replay with
``fuzz_support.make_mutant``)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest
from fuzz_support import Outcome, handmade_seeds, make_mutant, run_pipeline, template_seeds

from layerforge.core.catalog.catalog import Catalog

BASE_SEED = int(os.environ.get("LAYERFORGE_FUZZ_SEED", "20261201"))
LIMIT_S = 5.0


@pytest.fixture(scope="module")
def seeds(catalog: Catalog) -> dict[str, str]:
    return {**template_seeds(), **handmade_seeds(catalog)}


@pytest.fixture(scope="module")
def warm(seeds: dict[str, str], catalog: Catalog, tmp_path_factory: pytest.TempPathFactory
         ) -> None:
    """Import Keras and its applications once (seconds) before any file is timed."""
    for name in ("sequential-mlp", "dual-camera-xception"):
        path = tmp_path_factory.mktemp("warm") / "seed.json"
        path.write_text(seeds[name], encoding="utf-8")
        outcome = run_pipeline(path, name, catalog)
        assert outcome.finding is None and not outcome.messages, outcome


def fuzz(count: int, seeds: dict[str, str], catalog: Catalog, folder: Path) -> list[Outcome]:
    outcomes = []
    for index in range(count):
        name, raw = make_mutant(seeds, index, BASE_SEED)
        path = folder / f"mutant-{index}.json"
        path.write_bytes(raw)
        outcome = run_pipeline(path, name, catalog)
        outcome.messages.append(f"index {index}")
        outcomes.append(outcome)
        path.unlink()
        path.with_name(f"saved-{path.name}").unlink(missing_ok=True)
    return outcomes


def check(outcomes: list[Outcome]) -> None:
    findings = [(o.seed, o.messages[-1], o.finding) for o in outcomes if o.finding]
    assert not findings, f"seed {BASE_SEED}: {len(findings)} findings, first: {findings[0]}"
    slow = [(o.seed, o.messages[-1], round(o.seconds, 1)) for o in outcomes
            if o.seconds > LIMIT_S]
    assert not slow, f"seed {BASE_SEED}: runs over {LIMIT_S} s: {slow}"
    reached = Counter(stage for o in outcomes for stage in o.reached)
    refused = sum(1 for o in outcomes if o.stage == "load")
    # Not vacuous: some mutants are refused at load, and some go all the way to a build.
    assert refused > len(outcomes) // 4 and reached["compile"] > len(outcomes) // 50, \
        (refused, reached)
    for o in outcomes:
        assert all(m.strip() for m in o.messages), o  # every refusal says something


def test_500_mutated_projects_end_in_a_message_or_a_project(
        seeds: dict[str, str], catalog: Catalog, warm: None, tmp_path: Path) -> None:
    check(fuzz(500, seeds, catalog, tmp_path))


@pytest.mark.slow
def test_10000_mutated_projects_end_in_a_message_or_a_project(
        seeds: dict[str, str], catalog: Catalog, warm: None, tmp_path: Path) -> None:
    check(fuzz(10_000, seeds, catalog, tmp_path))
