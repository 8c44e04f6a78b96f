"""Data shipped inside the package: the Ortsnetz table and the demo network.

Read through :mod:`importlib.resources`, so an installed lotse finds them
wherever it runs. ``config.yaml`` here is the repository's top-level
``config.yaml`` (a link in the checkout, a copy in the wheel): one source.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

__all__ = ["DEMO_NETWORK", "demo_network_path"]

DEMO_NETWORK = "config.yaml"


def demo_network_path() -> Path:
    """Where the demo network (the embedded default configuration) lies.

    lotse is installed as files (a wheel, an editable checkout), never zipped,
    so the resource is a real file whose name errors can quote as FILE:LINE.
    """
    return Path(str(files(__name__).joinpath(DEMO_NETWORK)))
