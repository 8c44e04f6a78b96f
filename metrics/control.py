"""The metrics of the operators' handle on a running controller.

Supervisor overrides per center, configuration reloads and the configuration
in effect, and whether Asterisk runs a dialplan built from the same
configuration (the hash the dialplan hands over with every FastAGI request).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge

# Override modes as the gauge labels them; "auto" is the calendar (no override).
OVERRIDE_MODES = ("closed", "open", "auto")
RELOAD_RESULTS = ("accepted", "refused")


class ControlMetrics:
    """Overrides, reloads, the loaded configuration and dialplan drift, on ``registry``."""

    def __init__(self, registry: CollectorRegistry, centers: Iterable[str]) -> None:
        self.override = Gauge(
            "lotse_center_override",
            "1 for the override mode in effect at the center: closed or open by a supervisor, "
            "or auto (opening hours, holidays and closure days decide)",
            ["center", "mode"],
            registry=registry,
        )
        self.reloads = Counter(
            "lotse_config_reloads_total",
            "Configuration reloads (SIGHUP or lotse ctl reload): accepted and swapped in, "
            "or refused (the file has problems; the old configuration stays)",
            ["result"],
            registry=registry,
        )
        self.config_info = Gauge(
            "lotse_config_info",
            "1, labelled with the sha256 of the configuration file in effect",
            ["sha256"],
            registry=registry,
        )
        self.dialplan_mismatch = Gauge(
            "lotse_dialplan_config_mismatch",
            "1 while Asterisk runs a dialplan built from another configuration than the "
            "controller's (rebuild it with lotse dialplan build, then dialplan reload)",
            registry=registry,
        )
        for result in RELOAD_RESULTS:
            self.reloads.labels(result)
        self._config_sha: str | None = None
        for center in centers:
            self.show_override(center, "auto")

    def show_override(self, center: str, mode: str) -> None:
        """Set the center's override gauge to ``mode`` (closed, open or auto)."""
        for m in OVERRIDE_MODES:
            self.override.labels(center, m).set(1.0 if m == mode else 0.0)

    def forget_center(self, center: str) -> None:
        """A reload removed the center: its override series end."""
        for m in OVERRIDE_MODES:
            with contextlib.suppress(KeyError):
                self.override.remove(center, m)

    def show_config(self, sha256: str) -> None:
        """The configuration in effect is the one with hash ``sha256``."""
        label = sha256 or "unknown"
        if self._config_sha is not None and self._config_sha != label:
            self.config_info.remove(self._config_sha)
        self._config_sha = label
        self.config_info.labels(label).set(1.0)
