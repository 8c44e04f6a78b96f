"""The controlled path of a 115 call: entry, the AGI question, and the three actions.

Flow (context ``lotse-route`` unless named otherwise)::

    lotse-115,115|_0NX…115,1   LOTSE_DIALED=${EXTEN} → init
    init       TIMEOUT(absolute), __LOTSE_VISITED=, LOTSE_PLZ=, __LOTSE_CALLID=${UNIQUEID},
               LOTSE_ASKS=0, LOTSE_GREETED= → ask
    ask        LOTSE_ASKS+1 (over the limit → fallback "ask-limit"); clear the
               reply variables; AGI(agi://HOST:PORT/route,DIALED,VISITED,PLZ,CALLID,CONFIG)
               (CONFIG: the sha256 of the configuration file it was built from);
               AGISTATUS != SUCCESS → fallback "agi-failure";
               LOTSE_ACTION queue|announce|postal → that extension;
               empty → fallback "no-action"; anything else → fallback "unknown-action"
    queue      (first entry only: Answer, Playback(LOTSE_GREETING), LOTSE_GREETED=1)
               LOTSE_TIMEOUT 0/empty → final: Queue(LOTSE_QUEUE); a failure status
               → Playback(all-busy announcement); Hangup
               otherwise Queue(LOTSE_QUEUE,,,,LOTSE_TIMEOUT); a spill status →
               __LOTSE_VISITED += LOTSE_TARGET → ask; anything else → Hangup
    announce   Answer, Playback(LOTSE_ANNOUNCEMENT), Hangup
    postal     Answer; up to `attempts` Read()s of 5 digits (prompt, then retry
               prompt); five digits → LOTSE_PLZ=digits, else LOTSE_PLZ=none → ask

Why the reply variables are cleared before every AGI: a FastAGI server that
closes the connection without answering still leaves ``AGISTATUS=SUCCESS``
(``res/res_agi.c``, ``run_agi``: a closed socket ends the session normally),
so stale values from the previous hop would otherwise be taken for a new
decision. ``AGISTATUS`` itself is FAILURE when the connection is refused,
times out after 2 s (``MAX_AGI_CONNECT``) or the host does not resolve;
NOTFOUND only happens for local scripts, never for ``agi://``; HANGUP means
the caller hung up during the AGI, and Asterisk then ends the dialplan
itself (``agi_exec_full`` returns -1), so no branch can handle it.
"""

from __future__ import annotations

from ami import contract as c
from dialplans.callback import offers_callbacks
from dialplans.conf import Context, checked
from router.config import Config, Endpoint

ENTRY_CONTEXT = "lotse-115"
ROUTE_CONTEXT = "lotse-route"
FALLBACK_CONTEXT = "lotse-fallback"

# Dialplan-only variables (not part of the AGI reply contract).
VAR_DIALED = "LOTSE_DIALED"
VAR_ASKS = "LOTSE_ASKS"
VAR_GREETED = "LOTSE_GREETED"
VAR_DIGITS = "LOTSE_DIGITS"
VAR_TRY = "LOTSE_TRY"
VAR_FALLBACK_REASON = "LOTSE_FALLBACK_REASON"

# Queue() outcomes after which the caller is still in the dialplan unanswered:
# the listed ones from the brief, and UNKNOWN (the queue does not exist, e.g.
# queues_lotse.conf not reloaded), which must not strand the caller either.
SPILL_STATUSES = (
    "TIMEOUT",
    "JOINEMPTY",
    "LEAVEEMPTY",
    "JOINUNAVAIL",
    "LEAVEUNAVAIL",
    "FULL",
    "UNKNOWN",
)

# Last resort against a call that never ends (a controller that accepts the
# FastAGI connection and never answers holds the call: Asterisk has no read
# timeout on FastAGI). It counts talk time too, so it must be generous.
ABSOLUTE_TIMEOUT_S = 7200

# Ortsnetz codes are 2 to 5 digits after the trunk 0, the first of them 2-9.
ORTSNETZ_115_PATTERNS = tuple(f"_0N{'X' * n}115" for n in range(1, 5))


def agi_url(endpoint: Endpoint) -> str:
    """The FastAGI URL of the controller's routing script (IPv6 hosts in brackets)."""
    host = checked("host", endpoint.host)
    if ":" in host:
        host = f"[{host}]"
    return f"agi://{host}:{endpoint.port}/{c.AGI_SCRIPT}"


def _var(name: str) -> str:
    return "${" + name + "}"


def spill_condition(var: str = "QUEUESTATUS") -> str:
    """``$[…]`` that holds when Queue() returned without the call being answered."""
    tests = " | ".join(f'"{_var(var)}" = "{status}"' for status in SPILL_STATUSES)
    return f"$[{tests}]"


def ask_limit(config: Config) -> int:
    """How many AGI questions one call may ask before the dialplan stops trusting the answers.

    One per queue hop (``max_hops``), the first question, one after the
    postal-code prompt and one after a failed prompt: more means the
    controller is looping, and the static fallback takes over.
    """
    return config.max_hops + 3


def entry_context() -> Context:
    """``lotse-115``: the extensions the operator sends 115 calls to."""
    ctx = Context(
        ENTRY_CONTEXT,
        doc=(
            "Entry: send 115 calls here (Goto(lotse-115,${EXTEN},1) or include => lotse-115).\n"
            "115 itself, and 0 + Ortsnetz + 115 (0221 115 reaches Koeln's 115 from anywhere)."
        ),
    )
    for exten in ("115", *ORTSNETZ_115_PATTERNS):
        ctx.exten(exten, f"Set({VAR_DIALED}={_var('EXTEN')})")
        ctx.same(f"Goto({ROUTE_CONTEXT},init,1)")
    return ctx


def route_context(config: Config) -> Context:
    """``lotse-route``: ask the controller, then queue, announce or ask for the postal code."""
    ctx = Context(
        ROUTE_CONTEXT,
        doc="The controlled path: internal, reached only from lotse-115 (do not include it).",
    )
    _init(ctx)
    ctx.blank()
    _ask(ctx, config)
    ctx.blank()
    _queue(ctx, config)
    ctx.blank()
    _announce(ctx, config)
    ctx.blank()
    _postal(ctx, config)
    return ctx


def _init(ctx: Context) -> None:
    ctx.exten("init", f"Set(TIMEOUT(absolute)={ABSOLUTE_TIMEOUT_S})")
    ctx.same(f"Set({c.VAR_VISITED}=)")
    ctx.same(f"Set({c.DIALPLAN_POSTAL}=)")
    ctx.same(f"Set({c.VAR_CALLID}={_var('UNIQUEID')})")
    ctx.same(f"Set({VAR_ASKS}=0)")
    ctx.same(f"Set({VAR_GREETED}=)")
    ctx.same(f"Set({VAR_FALLBACK_REASON}=)")
    ctx.same("Goto(ask,1)")


def _to_fallback(reason: str) -> str:
    return f"Set({VAR_FALLBACK_REASON}={reason})"


def _ask(ctx: Context, config: Config) -> None:
    ctx.note(
        "One question to the controller per decision; the reply variables are cleared\n"
        "first so that a server closing without an answer (AGISTATUS=SUCCESS) leaves no\n"
        "stale decision behind."
    )
    ctx.exten("ask", f"Set({VAR_ASKS}=$[{_var(VAR_ASKS)} + 1])")
    ctx.same(f"GotoIf($[{_var(VAR_ASKS)} > {ask_limit(config)}]?limit)")
    for name in (
        c.VAR_ACTION,
        c.VAR_QUEUE,
        c.VAR_TIMEOUT,
        c.VAR_GREETING,
        c.VAR_ANNOUNCEMENT,
        c.VAR_TARGET,
        c.VAR_REASON,
        *((c.VAR_CB_OFFER,) if offers_callbacks(config) else ()),
    ):
        ctx.same(f"Set({name}=)")
    args = ",".join(
        _var(name)
        for name in (VAR_DIALED, c.DIALPLAN_VISITED, c.DIALPLAN_POSTAL, c.DIALPLAN_CALLID)
    )
    # The config hash is a literal, so the dialplan cannot lose it: a
    # controller with another configuration sees the drift on every call.
    sha = checked("config sha256", config.sha256)
    ctx.same(f"AGI({agi_url(config.controller.agi_listen)},{args},{sha})")
    ctx.same(f'GotoIf($["{_var("AGISTATUS")}" != "SUCCESS"]?failed)')
    action = _var(c.VAR_ACTION)
    for act in c.AgiAction:
        ctx.same(f'GotoIf($["{action}" = "{act.value}"]?{act.value},1)')
    ctx.same(f'GotoIf($["{action}" = ""]?empty)')
    ctx.same(_to_fallback("unknown-action"))
    ctx.same(f"Goto({FALLBACK_CONTEXT},s,1)")
    ctx.same(_to_fallback("no-action"), label="empty")
    ctx.same(f"Goto({FALLBACK_CONTEXT},s,1)")
    ctx.same(_to_fallback("agi-failure"), label="failed")
    ctx.same(f"Goto({FALLBACK_CONTEXT},s,1)")
    ctx.same(_to_fallback("ask-limit"), label="limit")
    ctx.same(f"Goto({FALLBACK_CONTEXT},s,1)")


def _queue(ctx: Context, config: Config) -> None:
    ctx.note(
        "The greeting of the caller's home center is played once, before the first\n"
        "queue; a spill to a partner keeps the caller on music on hold."
    )
    queue = _var(c.VAR_QUEUE)
    timeout = _var(c.VAR_TIMEOUT)
    ctx.exten("queue", f'GotoIf($["{queue}" = ""]?bad)')
    ctx.same(f'GotoIf($["{_var(VAR_GREETED)}" = "1"]?join)')
    ctx.same("Answer()")
    ctx.same(f'GotoIf($["{_var(c.VAR_GREETING)}" = ""]?greeted)')
    ctx.same(f"Playback({_var(c.VAR_GREETING)})")
    ctx.same(f"Set({VAR_GREETED}=1)", label="greeted")
    ctx.same("Set(QUEUESTATUS=)", label="join")
    ctx.same(f'GotoIf($["{timeout}" = "" | "{timeout}" = "0"]?final)')
    ctx.same(f"Queue({queue},,,,{timeout})")
    ctx.same(f"GotoIf({spill_condition()}?spill)")
    ctx.same("Hangup()")
    visited = _var(c.DIALPLAN_VISITED)
    target = _var(c.VAR_TARGET)
    joined = f'$["{visited}" = ""]?{target}:{visited}{c.VISITED_SEPARATOR}{target}'
    ctx.same(f"Set({c.VAR_VISITED}=${{IF({joined})}})", label="spill")
    ctx.same("Goto(ask,1)")
    ctx.note("timeout 0: the controller made this queue the last one; it has no time limit.")
    if offers_callbacks(config):
        ctx.same(
            f'GotoIf($["{_var(c.VAR_CB_OFFER)}" = "{c.CALLBACK_KIND_WAIT}"]'
            f"?{c.CALLBACK_CONTEXT},wait,1)",
            label="final",
        )
        ctx.same("Queue(" + queue + ")", label="finalq")
    else:
        ctx.same("Queue(" + queue + ")", label="final")
    ctx.same(f"GotoIf({spill_condition()}?busy)")
    ctx.same("Hangup()")
    ctx.same(f"Playback({checked('sound name', config.all_busy_announcement)})", label="busy")
    ctx.same("Hangup()")
    ctx.same(_to_fallback("bad-reply"), label="bad")
    ctx.same(f"Goto({FALLBACK_CONTEXT},s,1)")


def _announce(ctx: Context, config: Config) -> None:
    announcement = _var(c.VAR_ANNOUNCEMENT)
    ctx.exten("announce", f'GotoIf($["{announcement}" = ""]?bad)')
    ctx.same("Answer()")
    ctx.same(f"Playback({announcement})")
    if offers_callbacks(config):
        ctx.same(
            f'GotoIf($["{_var(c.VAR_CB_OFFER)}" = "{c.CALLBACK_KIND_CLOSED}"]'
            f"?{c.CALLBACK_CONTEXT},closed,1)"
        )
    ctx.same("Hangup()")
    ctx.same(_to_fallback("bad-reply"), label="bad")
    ctx.same(f"Goto({FALLBACK_CONTEXT},s,1)")


def _postal(ctx: Context, config: Config) -> None:
    ctx.note(
        f"Five digits, at most {config.unknown_origin.attempts} tries; after the last failed try "
        f"the controller\nis asked again with {c.DIALPLAN_POSTAL}={c.POSTAL_NONE} (it then uses "
        "the fallback center)."
    )
    read_postal_code(ctx, config, "postal", "ask,1")


def read_postal_code(ctx: Context, config: Config, exten: str, then: str) -> None:
    """Extension ``exten``: ask for the postal code, leave it in LOTSE_PLZ, Goto ``then``.

    Up to ``attempts`` Read()s of 5 digits (the prompt, then the retry prompt);
    five digits are kept, anything else after the last try becomes
    ``none``. The controlled path and the static fallback ask alike.
    """
    origin = config.unknown_origin
    prompt = checked("sound name", origin.prompt)
    retry = checked("sound name", origin.retry_prompt)
    digits = _var(VAR_DIGITS)
    tries = _var(VAR_TRY)
    ctx.exten(exten, "Answer()")
    ctx.same(f"Set({VAR_TRY}=1)")
    ctx.same(f"Set({VAR_DIGITS}=)", label="read")
    ctx.same(f"GotoIf($[{tries} > 1]?retry)")
    read_args = f"5,,1,{origin.digit_timeout_s}"
    ctx.same(f"Read({VAR_DIGITS},{prompt},{read_args})")
    ctx.same("Goto(check)")
    ctx.same(f"Read({VAR_DIGITS},{retry},{read_args})", label="retry")
    ctx.same(
        f'GotoIf($["${{FILTER(0-9,{digits})}}" = "{digits}" & ${{LEN({digits})}} = 5]?ok)',
        label="check",
    )
    ctx.same(f"Set({VAR_TRY}=$[{tries} + 1])")
    ctx.same(f"GotoIf($[{tries} <= {origin.attempts}]?read)")
    ctx.same(f"Set({c.DIALPLAN_POSTAL}={c.POSTAL_NONE})")
    ctx.same(f"Goto({then})")
    ctx.same(f"Set({c.DIALPLAN_POSTAL}={digits})", label="ok")
    ctx.same(f"Goto({then})")
