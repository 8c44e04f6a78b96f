"""Where lotse finds its configuration when none is named."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_ENV = "LOTSE_CONFIG"


def default_config_path() -> Path:
    """The configuration to use when ``--config`` is not given.

    ``$LOTSE_CONFIG`` first, then ``config.yaml`` in the working directory, then
    the demo network shipped beside the packages (the embedded default).
    """
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path("config.yaml")
    if local.is_file():
        return local
    return REPO_ROOT / "config.yaml"
