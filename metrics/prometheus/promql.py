"""The service-level formulas in PromQL, defined once for recording rules and dashboards.

docs/service-level.md states them in words; this module is the only place
they are written as PromQL. They apply to either view of the counters: per
home (:data:`HOME`, ``lotse_home_calls_*``, the 115 promise's own figures and
the headline: each call once for its home, wait summed over its spills; see
:mod:`metrics.servicelevel`) or per queue (:data:`QUEUE`, ``lotse_calls_*``,
Asterisk's view for comparison with ``queue show``). Each formula takes :class:`Counts`: PromQL
expressions for the counter increases over one window, either straight from
the raw counters (:func:`raw_counts`, for a dashboard's ``$__range``) or from
the per-center series the recording rules keep (:func:`recorded_counts`).

* 115 promise (headline): ``answered_within_threshold / (offered - short_abandoned
  - callbacks_kept)``
* Asterisk's SL: ``answered_within_threshold / answered``
* Asterisk's SL2: ``(answered_within_threshold + abandoned_within_threshold)
  / (answered + abandoned)``
* ASA (average speed of answer): ``sum of answered waits / answered``
* abandonment rate: ``(abandoned - short_abandoned) / (offered - short_abandoned)``

A denominator of zero (no call in the window) gives no sample rather than
NaN or a fake 100 %: ``x / (d > 0)`` drops the series.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

HOME = "home"
QUEUE = "queue"

# The counters behind the formulas: field of Counts -> (metric, fixed matchers).
# Per queue (Asterisk's view):
COUNTERS: dict[str, tuple[str, str]] = {
    "offered": ("lotse_calls_offered_total", ""),
    "answered": ("lotse_calls_answered_total", ""),
    "answered_in_sl": ("lotse_calls_answered_within_threshold_total", ""),
    "abandoned": ("lotse_calls_abandoned_total", ""),
    "abandoned_in_sl": ("lotse_calls_abandoned_within_threshold_total", ""),
    "short_abandoned": ("lotse_calls_short_abandoned_total", ""),
    "wait_answered_sum": ("lotse_wait_seconds_sum", 'outcome="answered"'),
    "wait_answered_count": ("lotse_wait_seconds_count", 'outcome="answered"'),
    "callbacks_kept": ("lotse_calls_callbacks_kept_total", ""),
}

# Per home center (the 115 promise):
HOME_COUNTERS: dict[str, tuple[str, str]] = {
    "offered": ("lotse_home_calls_offered_total", ""),
    "answered": ("lotse_home_calls_answered_total", ""),
    "answered_in_sl": ("lotse_home_calls_answered_within_threshold_total", ""),
    "abandoned": ("lotse_home_calls_abandoned_total", ""),
    "abandoned_in_sl": ("lotse_home_calls_abandoned_within_threshold_total", ""),
    "short_abandoned": ("lotse_home_calls_short_abandoned_total", ""),
    "wait_answered_sum": ("lotse_home_wait_seconds_sum", 'outcome="answered"'),
    "wait_answered_count": ("lotse_home_wait_seconds_count", 'outcome="answered"'),
    "callbacks_kept": ("lotse_home_calls_callbacks_kept_total", ""),
}

# The name each count has as a recorded series (level:metric:operation).
RECORDED_COUNT_NAMES: dict[str, str] = {
    "offered": "lotse_calls_offered",
    "answered": "lotse_calls_answered",
    "answered_in_sl": "lotse_calls_answered_within_threshold",
    "abandoned": "lotse_calls_abandoned",
    "abandoned_in_sl": "lotse_calls_abandoned_within_threshold",
    "short_abandoned": "lotse_calls_short_abandoned",
    "wait_answered_sum": "lotse_wait_seconds_answered_sum",
    "wait_answered_count": "lotse_wait_seconds_answered_count",
    "callbacks_kept": "lotse_calls_callbacks_kept",
}


RECORDED_HOME_COUNT_NAMES: dict[str, str] = {
    name: "lotse_home_" + recorded.removeprefix("lotse_")
    for name, recorded in RECORDED_COUNT_NAMES.items()
}


def _counters(view: str) -> dict[str, tuple[str, str]]:
    return {HOME: HOME_COUNTERS, QUEUE: COUNTERS}[view]


@dataclass(frozen=True)
class Counts:
    """PromQL for each counter's increase over one window, all with the same labels."""

    offered: str
    answered: str
    answered_in_sl: str
    abandoned: str
    abandoned_in_sl: str
    short_abandoned: str
    wait_answered_sum: str
    wait_answered_count: str
    callbacks_kept: str


def matchers(*parts: str) -> str:
    """``{a,b}`` from the non-empty parts, or nothing."""
    inner = ",".join(p for p in parts if p)
    return f"{{{inner}}}" if inner else ""


def aggregate(expr: str, by: tuple[str, ...]) -> str:
    """``sum by (labels) (expr)``; ``sum (expr)`` for the national total."""
    return f"sum by ({', '.join(by)}) ({expr})" if by else f"sum({expr})"


def raw_counts(
    window: str, by: tuple[str, ...] = ("center",), match: str = "", view: str = QUEUE
) -> Counts:
    """Increases of the raw counters of ``view`` over ``window``, summed by ``by``.

    ``match`` is extra label matchers (``center="bremen"``); ``window`` any
    PromQL range, including a Grafana variable such as ``$__range``.
    """
    values = {
        name: aggregate(f"increase({metric}{matchers(fixed, match)}[{window}])", by)
        for name, (metric, fixed) in _counters(view).items()
    }
    return Counts(**values)


def recorded_name(count: str, window: str, view: str = QUEUE) -> str:
    """The recorded per-center series of one count: ``center:lotse_calls_offered:increase1h``
    (per queue) or ``center:lotse_home_calls_offered:increase1h`` (per home)."""
    names = RECORDED_HOME_COUNT_NAMES if view == HOME else RECORDED_COUNT_NAMES
    return f"center:{names[count]}:increase{window}"


def recorded_counts(
    window: str, national: bool = False, match: str = "", view: str = QUEUE
) -> Counts:
    """The per-center counts of ``view`` the recording rules keep for ``window`` (5m … 1d).

    ``national`` sums them over all centers. Per home every call counts
    once; per queue every queue entry counts, so a call that timed out at
    one center and was answered at a partner counts at both (see
    docs/service-level.md).
    """
    values = {}
    for f in fields(Counts):
        series = recorded_name(f.name, window, view) + matchers(match)
        values[f.name] = f"sum({series})" if national else series
    return Counts(**values)


def service_level(c: Counts) -> str:
    """The 115 promise: answered within the threshold / (offered - short abandons - kept
    callbacks).

    A kept callback (metrics.servicelevel.callback_kept) is out of the figure. A
    series without the kept-callback count (a controller from before it) counts 0
    there rather than dropping the whole figure.
    """
    kept = f"({c.callbacks_kept} or {c.offered} * 0)"
    return f"{c.answered_in_sl} / ({c.offered} - {c.short_abandoned} - {kept} > 0)"


def service_level_asterisk(c: Counts) -> str:
    """Asterisk's SL in ``queue show``: answered within the threshold / answered."""
    return f"{c.answered_in_sl} / ({c.answered} > 0)"


def service_level2_asterisk(c: Counts) -> str:
    """Asterisk's SL2: (answered + abandoned within the threshold) / (answered + abandoned)."""
    return f"({c.answered_in_sl} + {c.abandoned_in_sl}) / ({c.answered} + {c.abandoned} > 0)"


def average_speed_of_answer(c: Counts) -> str:
    """Mean wait of answered calls, in seconds."""
    return f"{c.wait_answered_sum} / ({c.wait_answered_count} > 0)"


def abandon_rate(c: Counts) -> str:
    """Abandons that count (not short) / calls that count as offered."""
    return f"({c.abandoned} - {c.short_abandoned}) / ({c.offered} - {c.short_abandoned} > 0)"


# The ratios the recording rules keep, by recorded name: per queue ...
RATIOS = {
    "lotse_service_level:ratio": service_level,
    "lotse_service_level_asterisk_sl:ratio": service_level_asterisk,
    "lotse_service_level_asterisk_sl2:ratio": service_level2_asterisk,
    "lotse_answer_speed_seconds:mean": average_speed_of_answer,
    "lotse_abandon:ratio": abandon_rate,
}
# ... and per home (the headline; Asterisk's SL and SL2 are per-queue figures).
HOME_RATIOS = {
    "lotse_home_service_level:ratio": service_level,
    "lotse_home_answer_speed_seconds:mean": average_speed_of_answer,
    "lotse_home_abandon:ratio": abandon_rate,
}


def recorded_ratio(name: str, window: str) -> str:
    """A recorded per-center ratio: ``recorded_ratio("lotse_home_service_level:ratio", "1h")``."""
    if name not in RATIOS and name not in HOME_RATIOS:
        known = ", ".join([*RATIOS, *HOME_RATIOS])
        raise KeyError(f"no recorded ratio {name!r}; known: {known}")
    return f"center:{name}{window}"
