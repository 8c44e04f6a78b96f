"""Load a scenario file (YAML) into a :class:`sim.scenario.Scenario`.

Like ``config.yaml``, a scenario is refused whole, with every problem listed as
``FILE:LINE:COL: message``. The format (see the files in ``sim/scenarios/``)::

    name: Normal Tuesday                 # required
    description: free text
    network: demo                        # the demo network shipped with lotse; or a
                                         # configuration file relative to this one
                                         # (./demo for a file called demo);
                                         # or {national: {seed: 115}} (sim.national)
    start: 2026-11-24                    # first local day (required)
    days: 1
    service_level: {threshold_s: 30, target: 0.75, short_abandon_s: 5}  # default: config's
    holiday_volume: 0.3                  # calls on a public holiday of the center's state
    profile: "115"                       # weekly shape: "115" or {mon-fri: [24 weights], ...}
    callers: {mobile: 0.15, anonymous: 0.03, postal_code: 0.9, prompt_s: 8}
    national: {calls_per_week: 220000}   # split over the centers by population share
    center_defaults: {...}               # center keys for every center
    centers:                             # by id, or a pattern such as "land-*"
      bremen:
        calls_per_week: 5200             # the profile scaled to this volume, or
        calls_per_hour: 20               # a number, or {mon-fri: [24 numbers], sat: 2}
        population: 680000               # share of the national volume
        agents: 6                        # around the clock, or per day:
                                         #   {mon-fri: {"08:00-12:00": 7, "12:00-18:00": 5}}
                                         # or {auto: 0.8} (Erlang C per half hour, open hours)
        handle: {dist: lognormal, mean_s: 240, sd_s: 120, min_s: 20}
        patience: {dist: exponential, mean_s: 120}     # or none
        ring: {dist: uniform, mean_s: 4, spread_s: 2}  # or seconds
        staff_holidays: false            # agents work on holidays and closure days
        min_agents: 1                    # planner (lotse sim staff): at least this many while
                                         # open (default: auto's min, else 0)
        can_add_agents: false            # planner: never more than 'agents' says

Precedence per center: ``center_defaults``, then patterns in file order, then
the center's own entry; later keys win one by one.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import date
from importlib.resources import files
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode

from router.config import Center, Config
from router.configload import load_config
from router.confignodes import ConfigError, NodeReader, Problem, compose, decode_text, did_you_mean
from router.configvalues import parse_date
from router.data import demo_network_path
from router.numbering import OrtsnetzTable
from router.opening import OpeningHours
from sim.erlang import agents_for
from sim.national import national_network
from sim.profile import PROFILES, WEEK_115, scale
from sim.scenario import (
    DAYS,
    HALF_HOURS,
    CallbackMix,
    CallerMix,
    CenterPlan,
    Scenario,
    WeekHalfHours,
    WeekHours,
)
from sim.scenarioread import ValueReader

_TOP_REQUIRED = ("name", "start")
_TOP_OPTIONAL = (
    "description",
    "network",
    "days",
    "service_level",
    "holiday_volume",
    "profile",
    "callers",
    "callbacks",
    "national",
    "center_defaults",
    "centers",
)
_CENTER_KEYS = (
    "calls_per_week",
    "calls_per_hour",
    "population",
    "agents",
    "handle",
    "patience",
    "ring",
    "staff_holidays",
    "min_agents",
    "can_add_agents",
)
_MAX_DAYS = 366


Network = Config | Callable[[], Config] | None

# ``network: demo``: the demo network shipped inside the package.
DEMO = "demo"
# The sample scenarios shipped inside the package (``sim/scenarios/*.yaml``).
_SAMPLES = "scenarios"
_SUFFIX = ".yaml"


def sample_names() -> list[str]:
    """The sample scenarios shipped with lotse, by name (``normal-day``)."""
    folder = files("sim").joinpath(_SAMPLES)
    names = (entry.name for entry in folder.iterdir())
    return sorted(name.removesuffix(_SUFFIX) for name in names if name.endswith(_SUFFIX))


def sample_path(name: str) -> Path | None:
    """The shipped scenario called ``name`` (with or without ``.yaml``), if there is one."""
    stem = name.removesuffix(_SUFFIX)
    if stem not in sample_names():
        return None
    # Installed as files (wheel or checkout), never zipped: a real path for FILE:LINE.
    return Path(str(files("sim").joinpath(_SAMPLES, stem + _SUFFIX)))


def load_scenario(
    path: str | Path, *, table: OrtsnetzTable | None = None, config: Network = None
) -> Scenario:
    """Load and validate the scenario at ``path``.

    ``config`` is the network for a scenario without ``network`` (or a function
    loading it, called only when needed). Raises
    :class:`ConfigError` listing every problem (of the scenario, or of the
    configuration it names), ``OSError`` if the file cannot be read.
    """
    source = str(path)
    text = decode_text(Path(path).read_bytes(), source)
    return load_scenario_text(text, source, base_dir=Path(path).parent, table=table, config=config)


def load_scenario_text(
    text: str,
    source: str = "<string>",
    *,
    base_dir: Path | None = None,
    table: OrtsnetzTable | None = None,
    config: Network = None,
) -> Scenario:
    """Load a scenario given as YAML text; relative paths are taken from ``base_dir``."""
    root = compose(text, source)
    if root is None:
        raise ConfigError([Problem(source, 1, 1, "empty scenario; expected at least 'name'")])
    reader = NodeReader(source)
    loader = _Loader(reader, table or OrtsnetzTable.load(), base_dir or Path("."), config)
    scenario = loader.scenario(root, source)
    if reader.problems or scenario is None:
        raise ConfigError(reader.sorted_problems())
    return scenario


class _Loader:
    def __init__(
        self, reader: NodeReader, table: OrtsnetzTable, base_dir: Path, config: Network
    ) -> None:
        self.r = reader
        self.v = ValueReader(reader)
        self.table = table
        self.base_dir = base_dir
        self.config = config
        self.population: dict[str, float] = {}

    def scenario(self, root: Node, source: str) -> Scenario | None:
        if not isinstance(root, MappingNode):
            self.r.report(root, "a scenario is a mapping with keys such as 'name' and 'start'")
            return None
        f = self.r.fields(root, "", required=_TOP_REQUIRED, optional=_TOP_OPTIONAL)
        config = self._network(f.get("network"), root)
        if config is None:
            return None
        start = self._date(f.get("start"), "start")
        days = self.r.integer(f.get("days"), "days", 1, minimum=1)
        if days > _MAX_DAYS:
            self.r.report(f["days"], f"days: at most {_MAX_DAYS} days, got {days}")
        sl = config.service_level
        threshold, target, short = self._service_level(
            f.get("service_level"), sl.threshold_s, sl.target, sl.short_abandon_s
        )
        shape = self._profile(f.get("profile"))
        national = self._national(f.get("national"))
        plans = self._plans(
            config, f.get("center_defaults"), f.get("centers"), shape, national, threshold, target
        )
        if start is None:
            return None
        return Scenario(
            name=self.r.string(f.get("name"), "name", "scenario"),
            description=self.r.string(f.get("description"), "description", ""),
            config=config,
            table=self.table,
            start=start,
            days=min(days, _MAX_DAYS),
            plans=plans,
            callers=self._callers(f.get("callers")),
            callbacks=self._callbacks(f.get("callbacks")),
            threshold_s=threshold,
            short_abandon_s=short,
            target=target,
            holiday_volume=self.v.non_negative(f.get("holiday_volume"), "holiday_volume", 1.0),
            source=source,
        )

    # --- the network ----------------------------------------------------------------

    def _network(self, node: Node | None, root: Node) -> Config | None:
        if node is None:
            if self.config is None:
                self.r.report(root, "network: missing; name the configuration file")
                return None
            if isinstance(self.config, Config):
                return self.config
            try:
                return self.config()
            except OSError as err:
                self.r.report(root, f"network: none named, and {err.filename}: {err.strerror}")
            except ConfigError as err:
                self.r.problems.extend(err.problems)
            return None
        if isinstance(node, MappingNode):
            f = self.r.fields(node, "network", required=("national",))
            if "national" not in f:
                return None
            nf = self.r.fields(f["national"], "network.national", optional=("seed",))
            seed = self.r.integer(nf.get("seed"), "network.national.seed", 115, minimum=0)
            network = national_network(self.table, seed=seed)
            self.population = dict(network.population)
            return network.config
        text = self.r.text(node, "network", "a configuration file name")
        if text is None:
            return None
        # "demo" is the demo network inside the package: a shipped scenario
        # names it so, and runs the same from a checkout or an installed wheel.
        path = demo_network_path() if text == DEMO else self.base_dir / text
        try:
            return load_config(path, table=self.table)
        except OSError as err:
            self.r.report(node, f"network: cannot read {path}: {err.strerror or err}")
        except ConfigError as err:
            # The configuration's own problems, at their own positions.
            self.r.problems.extend(err.problems)
        return None

    def _date(self, node: Node | None, path: str) -> date | None:
        if node is None:
            return None
        text = self.r.text(node, path, "a date YYYY-MM-DD")
        if text is None:
            return None
        try:
            return parse_date(text)
        except ValueError as err:
            self.r.report(node, f"{path}: {err}")
            return None

    def _service_level(
        self, node: Node | None, threshold: float, target: float, short: float
    ) -> tuple[float, float, float]:
        if node is None:
            return threshold, target, short
        p = "service_level"
        f = self.r.fields(node, p, optional=("threshold_s", "target", "short_abandon_s"))
        threshold = self.v.non_negative(f.get("threshold_s"), f"{p}.threshold_s", threshold)
        new_target = self.v.share(f.get("target"), f"{p}.target", target)
        if new_target in (0.0, 1.0):
            self.r.report(f["target"], f"{p}.target: must lie strictly between 0 and 1")
        else:
            target = new_target
        short = self.v.non_negative(f.get("short_abandon_s"), f"{p}.short_abandon_s", short)
        return threshold, target, short

    def _profile(self, node: Node | None) -> WeekHours:
        if node is None:
            return WEEK_115
        if isinstance(node, ScalarNode):
            name = self.r.text(node, "profile", "a profile name")
            if name is None:
                return WEEK_115
            if name not in PROFILES:
                hint = did_you_mean(name, PROFILES) or f"; known: {', '.join(PROFILES)}"
                self.r.report(node, f"profile: unknown profile {name!r}{hint}")
                return WEEK_115
            return PROFILES[name]
        shape = self.v.hourly(node, "profile")
        if not any(any(day) for day in shape):
            self.r.report(node, "profile: every weight is 0; no call would ever arrive")
            return WEEK_115
        return shape

    def _national(self, node: Node | None) -> float | None:
        if node is None:
            return None
        f = self.r.fields(node, "national", required=("calls_per_week",))
        if "calls_per_week" not in f:
            return None
        return self.v.non_negative(f["calls_per_week"], "national.calls_per_week", 0.0)

    def _callers(self, node: Node | None) -> CallerMix:
        d = CallerMix()
        if node is None:
            return d
        p = "callers"
        f = self.r.fields(node, p, optional=("mobile", "anonymous", "postal_code", "prompt_s"))
        mix = CallerMix(
            mobile=self.v.share(f.get("mobile"), f"{p}.mobile", d.mobile),
            anonymous=self.v.share(f.get("anonymous"), f"{p}.anonymous", d.anonymous),
            postal_code=self.v.share(f.get("postal_code"), f"{p}.postal_code", d.postal_code),
            prompt_s=self.v.non_negative(f.get("prompt_s"), f"{p}.prompt_s", d.prompt_s),
        )
        if mix.mobile + mix.anonymous > 1.0:
            self.r.report(node, f"{p}: mobile and anonymous shares add up to more than 1")
        return mix

    def _callbacks(self, node: Node | None) -> CallbackMix | None:
        if node is None:
            return None
        d = CallbackMix()
        p = "callbacks"
        f = self.r.fields(node, p, optional=("accept", "answer", "busy", "hangs_up_first"))
        return CallbackMix(
            accept=self.v.share(f.get("accept"), f"{p}.accept", d.accept),
            answer=self.v.share(f.get("answer"), f"{p}.answer", d.answer),
            busy=self.v.share(f.get("busy"), f"{p}.busy", d.busy),
            hangs_up_first=self.v.share(
                f.get("hangs_up_first"), f"{p}.hangs_up_first", d.hangs_up_first
            ),
        )

    # --- the centers ----------------------------------------------------------------

    def _plans(
        self,
        config: Config,
        defaults: Node | None,
        centers: Node | None,
        shape: WeekHours,
        national: float | None,
        threshold: float,
        target: float,
    ) -> dict[str, CenterPlan]:
        layers: dict[str, list[tuple[str, dict[str, Node]]]] = {cid: [] for cid in config.centers}
        if defaults is not None:
            fields = self.r.fields(defaults, "center_defaults", optional=_CENTER_KEYS)
            for cid in config.centers:
                layers[cid].append(("center_defaults", fields))
        exact: list[tuple[str, dict[str, Node]]] = []
        entries = self.r.entries(centers, "centers") if centers is not None else None
        for key, key_node, value in entries or []:
            path = f"centers.{key}"
            fields = self.r.fields(value, path, optional=_CENTER_KEYS)
            if any(ch in key for ch in "*?["):
                matched = fnmatch.filter(config.centers, key)
                if not matched:
                    self.r.report(key_node, f"{path}: the pattern matches no center")
                for cid in matched:
                    layers[cid].append((path, fields))
            elif key not in config.centers:
                hint = did_you_mean(key, config.centers) or (
                    f"; configured centers: {', '.join(config.centers)}"
                )
                self.r.report(key_node, f"{path}: unknown center {key!r}{hint}")
            else:
                exact.append((key, fields))
        for cid, fields in exact:
            layers[cid].append((f"centers.{cid}", fields))
        populations = self._populations(layers)
        total_population = sum(populations.values())
        plans: dict[str, CenterPlan] = {}
        for cid, stack in layers.items():
            merged: dict[str, tuple[str, Node]] = {}
            for path, fields in stack:
                for name, node in fields.items():
                    merged[name] = (f"{path}.{name}", node)
            share = None
            if national is not None and total_population > 0:
                share = national * populations.get(cid, 0.0) / total_population
            plans[cid] = self._plan(config, cid, merged, shape, share, threshold, target)
        return plans

    def _populations(
        self, layers: Mapping[str, list[tuple[str, dict[str, Node]]]]
    ) -> dict[str, float]:
        found = dict(self.population)
        for cid, stack in layers.items():
            for path, fields in stack:
                if "population" in fields:
                    found[cid] = self.v.non_negative(
                        fields["population"], f"{path}.population", 0.0
                    )
        return found

    def _plan(
        self,
        config: Config,
        cid: str,
        f: Mapping[str, tuple[str, Node]],
        shape: WeekHours,
        national_share: float | None,
        threshold: float,
        target: float,
    ) -> CenterPlan:
        d = CenterPlan()

        def get(name: str) -> tuple[Node | None, str]:
            """The value of a key and the path it was given at."""
            path, node = f.get(name, (name, None))
            return node, path

        plan = CenterPlan(
            handle=self.v.dist(*get("handle"), d.handle),
            patience=self.v.dist(*get("patience"), d.patience),
            ring=self.v.dist(*get("ring"), d.ring),
            staff_holidays=self.r.boolean(*get("staff_holidays"), d.staff_holidays),
        )
        week_node, week_path = get("calls_per_week")
        hour_node, hour_path = get("calls_per_hour")
        calls = d.calls_per_hour
        if week_node is not None and hour_node is not None:
            self.r.report(
                hour_node, f"{hour_path}: give calls_per_week or calls_per_hour, not both"
            )
        elif hour_node is not None:
            calls = self.v.hourly(hour_node, hour_path)
        elif week_node is not None:
            calls = scale(shape, self.v.non_negative(week_node, week_path, 0.0))
        elif national_share is not None:
            calls = scale(shape, national_share)
        center = config.centers[cid]
        if any(any(day) for day in calls) and not center.ortsnetze:
            where = hour_node or week_node
            if where is not None:
                self.r.report(
                    where,
                    f"centers.{cid}: has calls but no Ortsnetze to draw its callers from",
                )
            else:
                calls = d.calls_per_hour
        agents_node, agents_path = get("agents")
        agents, least = d.agents, d.min_agents
        if agents_node is not None:
            agents, auto_min = self._agents(
                agents_node, agents_path, center, calls, plan, threshold, target
            )
            least = auto_min if auto_min is not None else least
        min_node, min_path = get("min_agents")
        return replace(
            plan,
            calls_per_hour=calls,
            agents=agents,
            min_agents=self.r.integer(min_node, min_path, least, minimum=0),
            can_add_agents=self.r.boolean(*get("can_add_agents"), d.can_add_agents),
        )

    def _agents(
        self,
        node: Node,
        path: str,
        center: Center,
        calls: WeekHours,
        plan: CenterPlan,
        threshold: float,
        target: float,
    ) -> tuple[WeekHalfHours, int | None]:
        """The agents table, and the ``min`` of an ``auto`` table (else ``None``)."""
        if isinstance(node, MappingNode) and any(
            isinstance(k, ScalarNode) and k.value == "auto" for k, _ in node.value
        ):
            f = self.r.fields(node, path, required=("auto",), optional=("min",))
            goal = self.v.share(f.get("auto"), f"{path}.auto", target)
            if goal in (0.0, 1.0):
                self.r.report(f["auto"], f"{path}.auto: the target must lie between 0 and 1")
                goal = target
            least = self.r.integer(f.get("min"), f"{path}.min", 1, minimum=0)
            return _erlang_staffing(center, calls, plan, threshold, goal, least), least
        return self.v.staffing(node, path), None


def _erlang_staffing(
    center: Center, calls: WeekHours, plan: CenterPlan, threshold: float, goal: float, least: int
) -> WeekHalfHours:
    """Agents per half hour by Erlang C for the center's own calls, while it is open.

    A planner's first cut: it ignores overflow from partners and abandonment
    (which Erlang C leaves out), so the run shows what those change.
    """
    hours = OpeningHours.compile(center)
    aht = plan.handle.mean_s or 1.0
    memo: dict[float, int] = {}
    week: list[tuple[int, ...]] = []
    for day in range(DAYS):
        row: list[int] = []
        for half in range(HALF_HOURS):
            base = day * 1440 + half * 30
            if not any(hours.minutes[base : base + 30]):
                row.append(0)
                continue
            rate = calls[day][half // 2]
            if rate not in memo:
                need = agents_for(rate, aht, goal, threshold).agents if rate > 0 else 0
                memo[rate] = max(need, least)
            row.append(memo[rate])
        week.append(tuple(row))
    return tuple(week)
