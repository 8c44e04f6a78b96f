"""Dialplan drift: is Asterisk running a dialplan built from the controller's configuration?

The generated dialplan hands the sha256 of the configuration it was built
from to every FastAGI request (``ami.contract.ARG_CONFIG``). A hot reload
changes the controller's configuration at once, but the dialplan's static
fallback, its queues and the AGI address change only when the operator
rebuilds and reloads it in Asterisk; until then the two disagree, and this
says so (metric, log, ``lotse ctl status``).
"""

from __future__ import annotations

import structlog

from metrics.control import ControlMetrics

log = structlog.get_logger("lotse.drift")

REBUILD_HINT = (
    "run `lotse dialplan build --config {config} --out DIR` (DIR: where Asterisk "
    "#includes the lotse files), then in Asterisk `dialplan reload` and `queue reload all`"
)


class DialplanDrift:
    """The configuration hash the dialplan last handed over, against the controller's."""

    def __init__(self, metrics: ControlMetrics, expected: str, source: str) -> None:
        self._metrics = metrics
        self._expected = expected
        self._source = source
        self._seen = ""
        metrics.dialplan_mismatch.set(0)

    @property
    def seen(self) -> str | None:
        """The hash the dialplan handed over last (``None``: none seen yet)."""
        return self._seen or None

    @property
    def mismatch(self) -> bool | None:
        """Whether they differ; ``None`` while the dialplan has not said."""
        if not self._seen:
            return None
        return self._seen != self._expected

    def hint(self) -> str:
        """What the operator runs to bring the dialplan in line."""
        return REBUILD_HINT.format(config=self._source)

    def observe(self, sha: str) -> None:
        """A FastAGI request carried ``sha`` (on the hot path: one comparison when unchanged)."""
        if sha == self._seen or not sha:
            return
        self._seen = sha
        self._update()
        if self.mismatch:
            log.warning(
                "dialplan.config_mismatch",
                dialplan_sha256=sha,
                config_sha256=self._expected,
                hint=self.hint(),
            )

    def expect(self, sha: str, source: str) -> None:
        """The controller now runs the configuration with hash ``sha`` (a reload)."""
        self._expected = sha
        self._source = source
        self._update()

    def _update(self) -> None:
        self._metrics.dialplan_mismatch.set(1 if self.mismatch else 0)
