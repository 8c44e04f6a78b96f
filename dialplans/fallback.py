"""The static fallback: routing without the controller, generated from the same config.

Entered at ``lotse-fallback,s,1`` whenever the controller cannot be trusted
(``LOTSE_FALLBACK_REASON`` says why). No AGI here. Flow::

    s           LOTSE_FALLBACK=1; today's date in the config's time zone
                (TESTTIME honoured like GotoIfTime does);
                dialed 0+Ortsnetz+115 → that Ortsnetz decides (known → home, else unknown);
                else a postal code already given to the controller → plz;
                else the caller number: FILTER to digits and +, +49…/0049… → 0…,
                digits without the trunk 0 get one; a national number of a valid
                length: the longest Ortsnetz prefix (5, 4, 3, 2 digits, at least
                3 digits behind it) via lotse-fallback-ortsnetz (every German
                Ortsnetz: served → home, else unconnected); nothing found →
                unknown
    unknown     no region (mobile, anonymous, foreign, invalid): with
                unknown_origin.mode postal_code → postal, else home = fallback center
    postal      the controlled path's Read() loop (route.read_postal_code) → plz
    plz         five digits: exact code (lotse-fallback-postal), range, longest
                prefix → home; none matches → unconnected; unusable → fallback center
    unconnected per ``unconnected``: the announcement (QueueLog LOTSEFALLBACK and
                LOTSEANNOUNCE without a center), or home = fallback center
    home-<id>   __LOTSE_HOME=<id>, UserEvent(LotseFallback,Center:<id>,Reason:…),
                QueueLog(…,LOTSEFALLBACK,<id>|reason);
                candidates = home, its overflow chain, its off-hours chain,
                the fallback center (each once) → next
    next        pop the next candidate not already visited → center-<id>;
                none left → final queue at the last queue tried, else the
                all-busy announcement (some center was open) or the home's
                off-hours announcement (all closed), each after
                QueueLog(…,LOTSEANNOUNCE,<home>|busy/offhours|sound); Hangup
    center-<id> closed day (lotse-fallback-closed,<id>-YYYYMMDD) → next;
                GotoIfTime(hours,…,tz) → open; nobody logged in → next;
                → queue with the center's queue and timeout
    queue       home greeting before the first queue only; the last allowed
                hop (max_hops) or no candidates left → Queue() without timeout;
                else Queue(q,,,,timeout) and a spill status → next
"""

from __future__ import annotations

from collections.abc import Iterable

from ami import contract as c
from dialplans.conf import Context, DialplanError, checked
from dialplans.hours import closed_days, time_specs
from dialplans.route import (
    FALLBACK_CONTEXT,
    VAR_DIALED,
    VAR_FALLBACK_REASON,
    VAR_GREETED,
    read_postal_code,
    spill_condition,
)
from router.config import Center, Config, UnconnectedMode, UnknownOriginMode
from router.numbering import MAX_NSN, MIN_NSN, MIN_SUBSCRIBER, OrtsnetzTable
from router.opening import HolidayCalendar

ORTSNETZ_CONTEXT = "lotse-fallback-ortsnetz"
CLOSED_CONTEXT = "lotse-fallback-closed"
POSTAL_CONTEXT = "lotse-fallback-postal"
# Keys of the postal data context: an exact code and a prefix of the same
# digits rank differently (exact > range > prefix), so they are told apart.
_EXACT, _PREFIX = "x", "p"

USER_EVENT = c.FALLBACK_USER_EVENT
VAR_FALLBACK = "LOTSE_FALLBACK"
VAR_NOW = "LOTSE_FB_NOW"
VAR_TODAY = "LOTSE_FB_TODAY"
VAR_CODE = "LOTSE_FB_CODE"
VAR_NUM = "LOTSE_FB_NUM"
VAR_CANDIDATES = "LOTSE_FB_CANDIDATES"
VAR_CENTER = "LOTSE_FB_CENTER"
VAR_QUEUE = "LOTSE_FB_QUEUE"
VAR_TIMEOUT = "LOTSE_FB_TIMEOUT"
VAR_LAST = "LOTSE_FB_LAST"
VAR_HOPS = "LOTSE_FB_HOPS"
VAR_SAW_OPEN = "LOTSE_FB_SAW_OPEN"
VAR_GREETING = "LOTSE_FB_GREETING"
VAR_OFFHOURS = "LOTSE_FB_OFFHOURS"
VAR_PLZ = c.DIALPLAN_POSTAL


def _var(name: str) -> str:
    return "${" + name + "}"


def candidates(config: Config, home: str) -> tuple[str, ...]:
    """Centers the fallback tries for a caller of ``home``, in order, each once.

    Without live queue state the fallback cannot tell overload from closure,
    so it walks both partner chains and checks each center's hours and
    logged-in members itself; the national fallback center comes last.
    """
    order = [home, *config.overflow_chain[home], *config.offhours_chain[home]]
    order.append(config.fallback_center)
    return tuple(dict.fromkeys(order))


def fallback_contexts(
    config: Config,
    years: Iterable[int],
    calendar: HolidayCalendar,
    table: OrtsnetzTable | None = None,
) -> str:
    """The fallback contexts as text: routing, Ortsnetz, postal-code and closed-day data.

    ``table`` is the German Ortsnetz table (default: the packaged one): a
    landline caller from an Ortsnetz no center serves is a caller from an
    unconnected region, not one without a region, so every Ortsnetz is listed.
    """
    if config.fallback_center not in config.centers:
        raise ValueError(f"fallback center {config.fallback_center!r} is not a configured center")
    _check_distinct(config.centers)
    years = tuple(years)
    parts = [
        _fallback_context(config).render(),
        _ortsnetz_context(config, table if table is not None else OrtsnetzTable.load()).render(),
        _postal_context(config).render(),
        _closed_context(config, years, calendar).render(),
    ]
    return "\n".join(parts)


def _check_distinct(ids: Iterable[str]) -> None:
    """Refuse ids that only differ in dashes: Asterisk ignores '-' in extension names.

    ``main/pbx.c`` strips dashes ("fluff") from literal extensions when adding
    and comparing them, so ``center-a-b`` and ``center-ab`` would be one
    extension.
    """
    seen: dict[str, str] = {}
    for cid in ids:
        key = cid.replace("-", "")
        if key in seen:
            raise DialplanError(
                f"center ids {seen[key]!r} and {cid!r} differ only in '-', which Asterisk "
                "ignores in extension names"
            )
        seen[key] = cid


def _fallback_context(config: Config) -> Context:
    ctx = Context(
        FALLBACK_CONTEXT,
        doc=(
            "Static fallback: routes by Ortsnetz and opening hours without the controller.\n"
            f"Counted by the controller through UserEvent {USER_EVENT} (center id and reason\n"
            "only) and, also while it is down, through its own queue_log lines (QueueLog,\n"
            f"queue {c.FALLBACK_QUEUE_LOG_QUEUE}: {c.FALLBACK_QUEUE_LOG_ROUTED}, "
            f"{c.FALLBACK_QUEUE_LOG_ANNOUNCED})."
        ),
    )
    _start(ctx, config)
    ctx.blank()
    _unknown(ctx, config)
    ctx.blank()
    for cid in config.centers:
        _home(ctx, config, config.centers[cid])
        ctx.blank()
    _next(ctx, config)
    ctx.blank()
    for cid in config.centers:
        _center(ctx, config, config.centers[cid])
        ctx.blank()
    _queue(ctx, config)
    return ctx


def _start(ctx: Context, config: Config) -> None:
    tz = checked("time zone", config.timezone)
    ctx.exten("s", f"Set({VAR_FALLBACK}=1)")
    ctx.same(f'GotoIf($["{_var(VAR_FALLBACK_REASON)}" != ""]?clock)')
    ctx.same(f"Set({VAR_FALLBACK_REASON}=direct)")
    ctx.note("TESTTIME (epoch seconds) is what GotoIfTime itself honours; tests set it.")
    ctx.same(
        f'Set({VAR_NOW}=${{IF($["{_var("TESTTIME")}" != ""]?{_var("TESTTIME")}:{_var("EPOCH")})}})',
        label="clock",
    )
    ctx.same(f"Set({VAR_TODAY}=${{STRFTIME({_var(VAR_NOW)},{tz},%Y%m%d)}})")
    ctx.note("A dialed 0 + Ortsnetz + 115 names the wanted municipality: it wins.")
    dialed = _var(VAR_DIALED)
    ctx.same(f'GotoIf($["{dialed}" = "115" | "{dialed}" = ""]?caller)')
    ctx.same(f"Set({VAR_CODE}=${{FILTER(0-9,{dialed})}})")
    ctx.same(f"Set({VAR_CODE}=${{{VAR_CODE}:1:-3}})")
    code = _var(VAR_CODE)
    ctx.same(_goto_ortsnetz(code))
    ctx.note("Digits before 115 that are no Ortsnetz name nothing: the caller decides.")
    ctx.same("Goto(caller)")
    ctx.note("A postal code the caller already gave the controller comes next.")
    ctx.same(f'GotoIf($["{_var(VAR_PLZ)}" != ""]?plz,1)', label="caller")
    ctx.note("The caller number, normalised: +49 / 0049 become the trunk 0 (+49 (0)421 too).")
    num = _var(VAR_NUM)
    ctx.same(f"Set({VAR_NUM}=${{FILTER(0-9+,{_var('CALLERID(num)')})}})")
    ctx.same(f'GotoIf($["{num}" = ""]?unknown,1)')
    ctx.same(f'GotoIf($["${{{VAR_NUM}:0:3}}" = "+49"]?plus)')
    ctx.same(f'GotoIf($["${{{VAR_NUM}:0:4}}" = "0049"]?intl)')
    ctx.note("Digits without the trunk 0 are national, as the routing policy reads them.")
    ctx.same(f'GotoIf($["${{{VAR_NUM}:0:1}}" = "0" | "${{{VAR_NUM}:0:1}}" = "+"]?national)')
    ctx.same(f"Set({VAR_NUM}=0{num})")
    ctx.same("Goto(national)")
    ctx.same(f"Set({VAR_NUM}=${{{VAR_NUM}:3}})", label="plus")
    ctx.same("Goto(trunk)")
    ctx.same(f"Set({VAR_NUM}=${{{VAR_NUM}:4}})", label="intl")
    ctx.same(
        f'Set({VAR_NUM}=${{IF($["${{{VAR_NUM}:0:1}}" = "0"]?{num}:0{num})}})',
        label="trunk",
    )
    ctx.note(
        "Only national numbers (0 then not 0) of a valid length carry an Ortsnetz: the\n"
        f"longest Ortsnetz prefix, with at least {MIN_SUBSCRIBER} digits behind it "
        "(router/numbering.py);\nanything else (mobile, service, foreign, invalid) has no region."
    )
    length = f"${{LEN({num})}}"
    ctx.same(
        f'GotoIf($["${{{VAR_NUM}:0:1}}" != "0" | "${{{VAR_NUM}:1:1}}" = "0"'
        f" | {length} < {MIN_NSN + 1} | {length} > {MAX_NSN + 1}]?unknown,1)",
        label="national",
    )
    # Labels are letters only (tests/dialplans/test_extensions.py reads them so).
    lengths = {5: "five", 4: "four", 3: "three", 2: "two"}
    for digits in lengths:
        exists = f"${{DIALPLAN_EXISTS({ORTSNETZ_CONTEXT},${{{VAR_NUM}:1:{digits}}},1)}}"
        ctx.same(f"GotoIf({exists}?{lengths[digits]})")
    ctx.same("Goto(unknown,1)")
    for digits in lengths:
        prefix = f"${{{VAR_NUM}:1:{digits}}}"
        enough = f"$[{length} >= {1 + digits + MIN_SUBSCRIBER}]"
        ctx.same(f"GotoIf({enough}?{ORTSNETZ_CONTEXT},{prefix},1:unknown,1)", label=lengths[digits])


def _unknown(ctx: Context, config: Config) -> None:
    """Callers without a region: the postal code (as the policy asks it), then its data."""
    home = f"home-{checked('center id', config.fallback_center)}"
    asks = config.unknown_origin.mode is UnknownOriginMode.POSTAL_CODE
    ctx.note(
        "No Ortsnetz (mobile, anonymous, foreign, invalid): "
        + ("ask for the postal code." if asks else "the fallback center (unknown_origin.mode).")
    )
    ctx.exten("unknown", "Goto(postal,1)" if asks else f"Goto({home},1)")
    if asks:
        ctx.blank()
        ctx.note("Asked as on the controlled path (lotse-route,postal).")
        read_postal_code(ctx, config, "postal", "plz,1")
    ctx.blank()
    plz = _var(VAR_PLZ)
    ctx.note(
        "Five digits: exact code, then range, then the longest prefix (router/config.py);\n"
        "anything else is unusable: the fallback center."
    )
    ctx.exten(
        "plz",
        f'GotoIf($["${{FILTER(0-9,{plz})}}" = "{plz}" & ${{LEN({plz})}} = 5]?lookup)',
    )
    ctx.same(f"Goto({home},1)")
    exact = f"{_EXACT}{plz}"
    ctx.same(
        f"GotoIf(${{DIALPLAN_EXISTS({POSTAL_CONTEXT},{exact},1)}}?{POSTAL_CONTEXT},{exact},1)",
        label="lookup",
    )
    for cid, center in config.centers.items():
        for lo, hi in center.postal_codes.ranges:
            lo, hi = checked("postal code", lo), checked("postal code", hi)
            ctx.same(f"GotoIf($[{plz} >= {lo} & {plz} <= {hi}]?home-{checked('center id', cid)},1)")
    for digits in _prefix_lengths(config):
        key = f"{_PREFIX}${{{VAR_PLZ}:0:{digits}}}"
        ctx.same(f"GotoIf(${{DIALPLAN_EXISTS({POSTAL_CONTEXT},{key},1)}}?{POSTAL_CONTEXT},{key},1)")
    ctx.same("Goto(unconnected,1)")
    ctx.blank()
    ctx.note("A region no center serves (unconnected).")
    if config.unconnected is UnconnectedMode.ANNOUNCEMENT:
        sound = checked("sound name", config.unconnected_announcement)
        ctx.note("No home: the queue_log lines name no center.")
        ctx.exten("unconnected", _queue_log_routed(""))
        ctx.same(_queue_log_announced("", "unconnected", sound))
        ctx.same("Answer()")
        ctx.same(f"Playback({sound})")
        ctx.same("Hangup()")
    else:
        ctx.exten("unconnected", f"Goto({home},1)")


def _prefix_lengths(config: Config) -> list[int]:
    """The lengths of the configured postal-code prefixes, longest first."""
    lengths = {len(p) for center in config.centers.values() for p in center.postal_codes.prefixes}
    return sorted(lengths, reverse=True)


def _goto_ortsnetz(code: str, also: str = "") -> str:
    """Jump to the Ortsnetz data entry for ``code`` if there is one (and ``also`` holds)."""
    exists = f"${{DIALPLAN_EXISTS({ORTSNETZ_CONTEXT},{code},1)}}"
    cond = f"$[{exists} & {also}]" if also else exists
    return f"GotoIf({cond}?{ORTSNETZ_CONTEXT},{code},1)"


def _queue_log(event: str, info: str) -> str:
    """app_queue's QueueLog(): a line of the fallback's own in Asterisk's queue_log.

    The file backend writes ``TIME|${UNIQUEID}|lotse-fallback|NONE|EVENT|info``
    (``ast_queue_log``), ``info`` as given, so its ``|`` separate data fields.
    ``info`` holds center ids, reasons and sound names only: no quote or
    backslash (Asterisk's argument parser would remove them).
    """
    return f"QueueLog({c.FALLBACK_QUEUE_LOG_QUEUE},{_var('UNIQUEID')},NONE,{event},{info})"


def _queue_log_routed(center: str) -> str:
    """``LOTSEFALLBACK center|reason``: the call is the fallback's.

    No caller number: the dialplan hands it to no event or log line (a queued
    call's ENTERQUEUE, Asterisk's own line, brings the Ortsnetz to the journal).
    """
    return _queue_log(c.FALLBACK_QUEUE_LOG_ROUTED, f"{center}|{_var(VAR_FALLBACK_REASON)}")


def _queue_log_announced(center: str, kind: str, sound: str) -> str:
    """``LOTSEANNOUNCE center|kind|sound``: the call ends with this announcement."""
    return _queue_log(c.FALLBACK_QUEUE_LOG_ANNOUNCED, f"{center}|{kind}|{sound}")


def _home(ctx: Context, config: Config, center: Center) -> None:
    cid = checked("center id", center.id)
    chain = candidates(config, cid)
    for other in chain:
        checked("center id", other)
    ctx.exten(f"home-{cid}", f"Set({c.VAR_HOME}={cid})")
    ctx.same(f"UserEvent({USER_EVENT},Center:{cid},Reason:{_var(VAR_FALLBACK_REASON)})")
    ctx.same(_queue_log_routed(cid))
    ctx.same(f"Set({VAR_GREETING}={checked('sound name', center.greeting)})")
    ctx.same(f"Set({VAR_OFFHOURS}={checked('sound name', center.offhours_announcement)})")
    ctx.same(f"Set({VAR_CANDIDATES}={c.join_visited(chain)})")
    ctx.same(f"Set({VAR_HOPS}=0)")
    ctx.same(f"Set({VAR_LAST}=)")
    ctx.same(f"Set({VAR_SAW_OPEN}=)")
    ctx.same("Goto(next,1)")


def _next(ctx: Context, config: Config) -> None:
    ctx.note("Centers the controller already queued this call at are skipped.")
    cands = _var(VAR_CANDIDATES)
    ctx.exten("next", f'GotoIf($["{cands}" = ""]?exhausted)')
    ctx.same(f"Set({VAR_CENTER}=${{CUT({VAR_CANDIDATES},{c.VISITED_SEPARATOR},1)}})")
    ctx.same(f"Set({VAR_CANDIDATES}=${{CUT({VAR_CANDIDATES},{c.VISITED_SEPARATOR},2-)}})")
    visited_at = f"${{FIELDNUM({c.DIALPLAN_VISITED},{c.VISITED_SEPARATOR},{_var(VAR_CENTER)})}}"
    ctx.same(f"GotoIf($[{visited_at} > 0]?next,1)")
    ctx.same(f"Goto(center-{_var(VAR_CENTER)},1)")
    ctx.same(f'GotoIf($["{_var(VAR_LAST)}" != ""]?queue,final)', label="exhausted")
    ctx.note("Some center open, or the call was queued before: busy, not closed.")
    ctx.same(f'GotoIf($["{_var(VAR_SAW_OPEN)}" = "1" | "{_var(c.DIALPLAN_VISITED)}" != ""]?busy)')
    home = _var(c.DIALPLAN_HOME)
    ctx.same(_queue_log_announced(home, "offhours", _var(VAR_OFFHOURS)))
    ctx.same("Answer()")
    ctx.same(f"Playback({_var(VAR_OFFHOURS)})")
    ctx.same("Hangup()")
    busy = checked("sound name", config.all_busy_announcement)
    ctx.same(_queue_log_announced(home, "busy", busy), label="busy")
    ctx.same("Answer()")
    ctx.same(f"Playback({busy})")
    ctx.same("Hangup()")


def _center(ctx: Context, config: Config, center: Center) -> None:
    cid = checked("center id", center.id)
    queue = checked("queue name", center.queue)
    tz = checked("time zone", config.timezone)
    closed = f"${{DIALPLAN_EXISTS({CLOSED_CONTEXT},{cid}-{_var(VAR_TODAY)},1)}}"
    ctx.exten(f"center-{cid}", f"GotoIf({closed}?next,1)")
    specs = time_specs(center)
    for spec in specs:
        ctx.same(f"GotoIfTime({spec.condition(tz)}?open)")
    ctx.same("Goto(next,1)")
    if not specs:
        return
    ctx.same(f"Set({VAR_SAW_OPEN}=1)", label="open")
    ctx.note("0 prefixed: a missing queue gives an empty count, read as 0 (nobody there).")
    ctx.same(f"GotoIf($[0${{QUEUE_MEMBER({queue},logged)}} < 1]?next,1)")
    ctx.same(f"Set({VAR_QUEUE}={queue})")
    ctx.same(f"Set({VAR_TIMEOUT}={center.queue_timeout_s})")
    ctx.same("Goto(queue,1)")


def _queue(ctx: Context, config: Config) -> None:
    ctx.exten("queue", f"Set({VAR_HOPS}=$[{_var(VAR_HOPS)} + 1])")
    ctx.same(f"Set({VAR_LAST}={_var(VAR_QUEUE)})")
    ctx.same(f'GotoIf($["{_var(VAR_GREETED)}" = "1"]?join)')
    ctx.same("Answer()")
    ctx.same(f"Playback({_var(VAR_GREETING)})")
    ctx.same(f"Set({VAR_GREETED}=1)")
    final = f'$[{_var(VAR_HOPS)} >= {config.max_hops} | "{_var(VAR_CANDIDATES)}" = ""]'
    ctx.same(f"GotoIf({final}?final)", label="join")
    ctx.same("Set(QUEUESTATUS=)")
    ctx.same(f"Queue({_var(VAR_QUEUE)},,,,{_var(VAR_TIMEOUT)})")
    ctx.same(f"GotoIf({spill_condition()}?next,1)")
    ctx.same("Hangup()")
    ctx.same("Set(QUEUESTATUS=)", label="final")
    ctx.same(f"Queue({_var(VAR_LAST)})")
    ctx.same(f"GotoIf({spill_condition()}?next,busy)")
    ctx.same("Hangup()")


def _ortsnetz_context(config: Config, table: OrtsnetzTable) -> Context:
    ctx = Context(
        ORTSNETZ_CONTEXT,
        doc=(
            "Data: Ortsnetz code (without the trunk 0) -> home center, every German Ortsnetz\n"
            "(one no center serves: unconnected); looked up with DIALPLAN_EXISTS by exact\n"
            "code, so the longest prefix wins. Never dialled."
        ),
    )
    served = {
        code: checked("center id", cid)
        for cid, center in config.centers.items()
        for code in center.ortsnetze
    }
    codes = sorted({net.code for net in table} | set(served))
    for code in codes:
        cid = served.get(code)
        where = f"home-{cid}" if cid is not None else "unconnected"
        ctx.exten(checked("Ortsnetz code", code), f"Goto({FALLBACK_CONTEXT},{where},1)")
    return ctx


def _postal_context(config: Config) -> Context:
    ctx = Context(
        POSTAL_CONTEXT,
        doc=(
            f"Data: postal code -> home center; {_EXACT}CODE an exact code, {_PREFIX}DIGITS a\n"
            "prefix (ranges are tests in lotse-fallback,plz). Never dialled."
        ),
    )
    for cid, center in config.centers.items():
        checked("center id", cid)
        codes = center.postal_codes
        for key in sorted(
            [_EXACT + code for code in codes.exact] + [_PREFIX + p for p in codes.prefixes]
        ):
            ctx.exten(checked("postal code key", key), f"Goto({FALLBACK_CONTEXT},home-{cid},1)")
    if not ctx.lines:
        ctx.note("No center serves a postal code: every one is unconnected.")
    return ctx


def _closed_context(config: Config, years: tuple[int, ...], calendar: HolidayCalendar) -> Context:
    span = f"{min(years)}-{max(years)}" if years else "no years"
    ctx = Context(
        CLOSED_CONTEXT,
        doc=(
            f"Data: days a center is closed whatever its hours (closures; public holidays\n"
            f"{span} of the center's state). Rebuild before the years run out. Never dialled."
        ),
    )
    for cid, center in config.centers.items():
        checked("center id", cid)
        for day, why in closed_days(center, years, calendar).items():
            ctx.exten(f"{cid}-{day:%Y%m%d}", "NoOp(closed)")
            ctx.lines[-1] += f"  ; {why}"
    if not ctx.lines:
        ctx.note("No closed days.")
    return ctx
