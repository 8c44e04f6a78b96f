"""What every lotse dashboard shares: settings from the config, variables, links."""

from __future__ import annotations

from dataclasses import dataclass

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.models import dashboard as dm

from router.config import Config

TAGS = ["lotse", "115"]


@dataclass(frozen=True)
class Settings:
    """The parts of the lotse configuration the dashboards show.

    ``target`` is the service-level promise (0.75), ``threshold_s`` its answer
    time (30 s), ``timezone`` the one of the opening hours: "today" on the
    dashboards is the calendar day there.
    """

    target: float = 0.75
    threshold_s: float = 30.0
    short_abandon_s: float = 5.0
    timezone: str = "Europe/Berlin"

    @classmethod
    def of(cls, config: Config) -> Settings:
        """The settings of a loaded configuration."""
        sl = config.service_level
        return cls(sl.target, sl.threshold_s, sl.short_abandon_s, config.timezone)

    @property
    def promise(self) -> str:
        """``75 % within 30 s``."""
        return f"{self.target:.0%} within {self.threshold_s:g} s".replace("%", " %")


def datasource_variable() -> dashboard.DatasourceVariable:
    """The Prometheus data source, chosen on import."""
    return dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")


def center_variable() -> dashboard.QueryVariable:
    """One center, from the centers lotse exports."""
    return (
        dashboard.QueryVariable("center")
        .label("Center")
        .datasource(dm.DataSourceRef(type_val="prometheus", uid="${datasource}"))
        .query("label_values(lotse_calls_offered_total, center)")
        .refresh(dm.VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(dm.VariableSort.ALPHABETICAL_ASC)
        .multi(False)
        .include_all(False)
    )


def new_dashboard(
    uid: str, title: str, description: str, settings: Settings
) -> dashboard.Dashboard:
    """A dashboard for today so far, refreshed every minute, linked to the others."""
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .timezone(settings.timezone)
        .time("now/d", "now")
        .refresh("1m")
        .editable()
        .tooltip(dm.DashboardCursorSync.CROSSHAIR)
        .link(
            dashboard.DashboardLink("lotse")
            .type(dm.DashboardLinkType.DASHBOARDS)
            .tags(["lotse"])
            .as_dropdown(True)
            .include_vars(True)
            .keep_time(True)
        )
        .with_variable(datasource_variable())
    )
