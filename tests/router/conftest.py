"""Fixtures for router tests."""

from __future__ import annotations

import pytest

from router.numbering import OrtsnetzTable
from router.policy import Router
from tests.router.network import demo_config


@pytest.fixture(scope="session")
def table() -> OrtsnetzTable:
    return OrtsnetzTable.load()


@pytest.fixture
def router(table: OrtsnetzTable) -> Router:
    return Router(demo_config(), table)
