"""Fixtures for the controller's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.lotse.rig import Rig, running_rig


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """The stand-in and ``lotse run`` attached to it (see ``tests/lotse/rig.py``)."""
    async with running_rig(tmp_path) as r:
        yield r
