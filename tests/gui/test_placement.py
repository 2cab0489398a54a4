"""New nodes land on the free spot nearest to where the user pointed (pure geometry)."""

from __future__ import annotations

import math
import time

import pytest

from layerforge.gui.canvas.placement import box_at, free_offset, free_spot, overlaps

SIZE = (184.0, 72.0)


def test_a_free_spot_is_kept_as_is() -> None:
    assert free_spot((100.0, 50.0), SIZE, [box_at((600.0, 600.0), SIZE)]) == (100.0, 50.0)


def test_an_occupied_spot_moves_to_the_nearest_free_one() -> None:
    taken = [box_at((0.0, 0.0), SIZE)]
    spot = free_spot((0.0, 0.0), SIZE, taken, gap=24.0)
    assert not overlaps(box_at(spot, SIZE), taken[0], 24.0)
    # Nodes are wider than tall: the nearest way out is up or down, one node and a gap away.
    assert spot[0] == 0.0 and abs(spot[1]) == pytest.approx(72.0 + 24.0, abs=20.0)


def test_repeated_placements_at_one_spot_never_overlap() -> None:
    taken: list[tuple[float, float, float, float]] = []
    for _ in range(12):
        taken.append(box_at(free_spot((10.0, 10.0), SIZE, taken), SIZE))
    for i, a in enumerate(taken):
        for b in taken[i + 1:]:
            assert not overlaps(a, b)
    # ... and stay packed around the wanted point.
    assert max(math.hypot(r[0] + SIZE[0] / 2 - 10, r[1] + SIZE[1] / 2 - 10) for r in taken) < 400


def test_a_group_moves_as_one_piece_clear_of_the_others() -> None:
    group = [box_at((0.0, 0.0), SIZE), box_at((0.0, 150.0), SIZE)]
    offset = free_offset(group, (40.0, 40.0), group)  # a paste next to its originals
    moved = [(r[0] + offset[0], r[1] + offset[1], r[2], r[3]) for r in group]
    assert not any(overlaps(m, g) for m in moved for g in group)
    assert math.hypot(offset[0] - 40.0, offset[1] - 40.0) < 400


def test_a_crowded_canvas_is_searched_quickly() -> None:
    taken = [box_at((x * 200.0, y * 100.0), SIZE) for x in range(20) for y in range(25)]
    start = time.perf_counter()
    spot = free_spot((1900.0, 1200.0), SIZE, taken)
    assert time.perf_counter() - start < 0.5
    assert not any(overlaps(box_at(spot, SIZE), r) for r in taken)
