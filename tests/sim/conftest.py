"""Fixtures shared by the what-if engine's tests."""

from __future__ import annotations

import pytest

from router.numbering import OrtsnetzTable


@pytest.fixture(scope="session")
def table() -> OrtsnetzTable:
    return OrtsnetzTable.load()
