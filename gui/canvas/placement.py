"""Where a new node goes: the free spot nearest to where the user pointed (pure geometry, no Qt).

Rectangles are ``(left, top, width, height)`` in scene units; points are ``(x, y)``
centres, the way node positions are stored.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

Point = tuple[float, float]
Size = tuple[float, float]
Rect = tuple[float, float, float, float]

GAP = 24.0  # room kept between a placed box and its neighbours (edges and labels pass there)
STEP = 20.0  # candidate spots lie on a grid of this pitch around the wanted point
MAX_RINGS = 400


def box_at(centre: Point, size: Size) -> Rect:
    return (centre[0] - size[0] / 2, centre[1] - size[1] / 2, size[0], size[1])


def overlaps(a: Rect, b: Rect, gap: float = 0.0) -> bool:
    """Whether ``a`` grown by ``gap`` on every side intersects ``b``."""
    return (a[0] - gap < b[0] + b[2] and b[0] < a[0] + a[2] + gap
            and a[1] - gap < b[1] + b[3] and b[1] < a[1] + a[3] + gap)


def _ring(k: int) -> Iterator[tuple[int, int]]:
    """Grid offsets at Chebyshev distance ``k`` from the origin."""
    if k == 0:
        yield (0, 0)
        return
    for i in range(-k, k + 1):
        yield (i, -k)
        yield (i, k)
    for j in range(-k + 1, k):
        yield (-k, j)
        yield (k, j)


def free_spot(want: Point, size: Size, taken: Sequence[Rect], *, gap: float = GAP,
              step: float = STEP) -> Point:
    """The centre nearest to ``want`` where a ``size`` box, ``gap`` apart, overlaps no rect.

    Candidates are searched ring by ring on a grid around ``want``; a ring whose
    nearest point is farther than the best free spot found ends the search.
    """
    reach = max(size) / 2 + gap
    best: Point | None = None
    best_distance = math.inf
    for k in range(MAX_RINGS + 1):
        if k * step >= best_distance:
            break
        # Only rects that the boxes of this ring can touch.
        near = [r for r in taken if overlaps(r, (want[0] - k * step - reach,
                                                 want[1] - k * step - reach,
                                                 2 * (k * step + reach), 2 * (k * step + reach)))]
        for i, j in _ring(k):
            spot = (want[0] + i * step, want[1] + j * step)
            distance = math.hypot(i * step, j * step)
            if distance >= best_distance:
                continue
            box = box_at(spot, size)
            if not any(overlaps(box, r, gap) for r in near):
                best, best_distance = spot, distance
    return best if best is not None else want


def union(rects: Sequence[Rect]) -> Rect:
    """The smallest rect holding every rect of a non-empty list."""
    left = min(r[0] for r in rects)
    top = min(r[1] for r in rects)
    right = max(r[0] + r[2] for r in rects)
    bottom = max(r[1] + r[3] for r in rects)
    return (left, top, right - left, bottom - top)


def free_offset(group: Sequence[Rect], wanted: Point, taken: Sequence[Rect], *,
                gap: float = GAP, step: float = STEP) -> Point:
    """How far to move a group of boxes (already moved by ``wanted``) so none overlaps ``taken``.

    The group moves as one piece: returns the offset nearest to ``wanted``.
    """
    box = union(group)
    centre = (box[0] + box[2] / 2 + wanted[0], box[1] + box[3] / 2 + wanted[1])
    spot = free_spot(centre, (box[2], box[3]), taken, gap=gap, step=step)
    return (wanted[0] + spot[0] - centre[0], wanted[1] + spot[1] - centre[1])
