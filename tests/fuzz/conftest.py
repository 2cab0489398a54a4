"""The catalog the fuzzer's documents share (built from Keras once, cached on disk)."""

from __future__ import annotations

import pytest

from layerforge.core.catalog.catalog import Catalog, get_catalog


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return get_catalog()
