"""extensions_lotse.conf for the demo network: asterisklint-clean, complete, golden key lines."""

from __future__ import annotations

import re
from pathlib import Path

from ami import contract
from dialplans.build import EXTENSIONS
from dialplans.fallback import candidates
from router.numbering import OrtsnetzTable
from tests.dialplans.helpers import (
    INCLUDE_HINTS,
    asterisklint,
    build_files,
    demo_config,
    lint_as_included,
)

CONFIG = demo_config()
FILES = build_files(CONFIG)
TEXT = FILES[EXTENSIONS]
LINES = TEXT.splitlines()


def _context(name: str) -> list[str]:
    """The lines of one context, without comments."""
    start = LINES.index(f"[{name}]")
    body = []
    for line in LINES[start + 1 :]:
        if line.startswith("["):
            break
        if line and not line.startswith(";"):
            body.append(line)
    return body


def _extension(context: str, exten: str) -> list[str]:
    lines = _context(context)
    first = next(i for i, line in enumerate(lines) if line.startswith(f"exten => {exten},1"))
    rest = [line for line in lines[first + 1 :]]
    end = next((i for i, line in enumerate(rest) if line.startswith("exten =>")), len(rest))
    return [lines[first], *rest[:end]]


def test_asterisklint_is_clean_when_included(tmp_path: Path) -> None:
    code, report = lint_as_included(FILES, tmp_path)
    assert report == ""
    assert code == 0


def test_asterisklint_on_the_file_alone_only_misses_general(tmp_path: Path) -> None:
    path = tmp_path / EXTENSIONS
    path.write_text(TEXT, encoding="utf-8")
    _, report = asterisklint(path)
    codes = {line.split()[1].rstrip(":") for line in report.splitlines()}
    assert codes == set(INCLUDE_HINTS)


def test_asterisklint_catches_a_broken_dialplan(tmp_path: Path) -> None:
    # Guards the two tests above against a linter that reads nothing.
    broken = dict(FILES)
    broken[EXTENSIONS] = TEXT.replace("Goto(lotse-route,init,1)", "Goto(lotse-route,nowhere,1)", 1)
    code, report = lint_as_included(broken, tmp_path)
    assert code == 1
    assert "nowhere" in report


def test_entry_takes_115_and_ortsnetz_plus_115() -> None:
    entry = _context("lotse-115")
    for exten in ("115", "_0NX115", "_0NXX115", "_0NXXX115", "_0NXXXX115"):
        assert f"exten => {exten},1,Set(LOTSE_DIALED=${{EXTEN}})" in entry
    assert entry.count(" same => n,Goto(lotse-route,init,1)") == 5


def test_init_and_agi_question() -> None:
    init = _extension("lotse-route", "init")
    assert init[0] == "exten => init,1,Set(TIMEOUT(absolute)=7200)"
    assert " same => n,Set(__LOTSE_VISITED=)" in init
    assert " same => n,Set(LOTSE_PLZ=)" in init
    assert " same => n,Set(__LOTSE_CALLID=${UNIQUEID})" in init
    ask = _extension("lotse-route", "ask")
    agi = (
        " same => n,AGI(agi://127.0.0.1:4573/route,"
        f"${{LOTSE_DIALED}},${{LOTSE_VISITED}},${{LOTSE_PLZ}},${{LOTSE_CALLID}},{CONFIG.sha256})"
    )
    assert len(CONFIG.sha256) == 64
    assert agi in ask
    position = ask.index(agi)
    # The reply variables are cleared before the question, the status checked after.
    assert " same => n,Set(LOTSE_ACTION=)" in ask[:position]
    assert ask[position + 1] == ' same => n,GotoIf($["${AGISTATUS}" != "SUCCESS"]?failed)'
    for action in contract.AgiAction:
        assert f' same => n,GotoIf($["${{LOTSE_ACTION}}" = "{action}"]?{action},1)' in ask
    reasons = re.findall(r"LOTSE_FALLBACK_REASON=([a-z-]+)\)", "\n".join(ask))
    assert set(reasons) == {"unknown-action", "no-action", "agi-failure", "ask-limit"}
    assert f"GotoIf($[${{LOTSE_ASKS}} > {CONFIG.max_hops + 3}]?limit)" in ask[1]


def test_queue_action_greets_once_and_spills_with_visited() -> None:
    queue = _extension("lotse-route", "queue")
    text = "\n".join(queue)
    assert text.count("Answer()") == 1
    assert text.count("Playback(${LOTSE_GREETING})") == 1
    assert ' same => n,GotoIf($["${LOTSE_GREETED}" = "1"]?join)' in queue
    assert " same => n,Queue(${LOTSE_QUEUE},,,,${LOTSE_TIMEOUT})" in queue
    assert " same => n(finalq),Queue(${LOTSE_QUEUE})" in queue
    assert (
        ' same => n(spill),Set(__LOTSE_VISITED=${IF($["${LOTSE_VISITED}" = ""]'
        "?${LOTSE_TARGET}:${LOTSE_VISITED}+${LOTSE_TARGET})})"
    ) in queue
    for status in ("TIMEOUT", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL", "FULL"):
        assert f'"${{QUEUESTATUS}}" = "{status}"' in text
    assert f" same => n(busy),Playback({CONFIG.all_busy_announcement})" in queue


def test_announce_and_postal_actions() -> None:
    announce = _extension("lotse-route", "announce")
    # The demo centers offer a callback when every center is closed.
    assert announce[1:5] == [
        " same => n,Answer()",
        " same => n,Playback(${LOTSE_ANNOUNCEMENT})",
        ' same => n,GotoIf($["${LOTSE_CB_OFFER}" = "closed"]?lotse-callback,closed,1)',
        " same => n,Hangup()",
    ]
    postal = _extension("lotse-route", "postal")
    origin = CONFIG.unknown_origin
    timeout = origin.digit_timeout_s
    assert f" same => n,Read(LOTSE_DIGITS,{origin.prompt},5,,1,{timeout})" in postal
    assert f" same => n(retry),Read(LOTSE_DIGITS,{origin.retry_prompt},5,,1,{timeout})" in postal
    assert f" same => n,GotoIf($[${{LOTSE_TRY}} <= {origin.attempts}]?read)" in postal
    assert f" same => n,Set(LOTSE_PLZ={contract.POSTAL_NONE})" in postal
    assert " same => n(ok),Set(LOTSE_PLZ=${LOTSE_DIGITS})" in postal


def test_every_center_has_a_fallback_route() -> None:
    fallback = "\n".join(_context("lotse-fallback"))
    for cid, c in CONFIG.centers.items():
        assert f"exten => home-{cid},1,Set(__LOTSE_HOME={cid})" in fallback
        assert f"exten => center-{cid},1,GotoIf(" in fallback
        assert f"Set(LOTSE_FB_QUEUE={c.queue})" in fallback
        assert f"Set(LOTSE_FB_GREETING={c.greeting})" in fallback
        assert f"Set(LOTSE_FB_OFFHOURS={c.offhours_announcement})" in fallback
        chain = "+".join(candidates(CONFIG, cid))
        assert f"Set(LOTSE_FB_CANDIDATES={chain})" in fallback
    assert "AGI(" not in fallback


def test_every_ortsnetz_routes_to_its_center_or_is_unconnected() -> None:
    data = [line for line in _context("lotse-fallback-ortsnetz") if line.startswith("exten")]
    served = {
        f"exten => {code},1,Goto(lotse-fallback,home-{cid},1)"
        for code, cid in CONFIG.center_by_ortsnetz.items()
    }
    unserved = {
        f"exten => {net.code},1,Goto(lotse-fallback,unconnected,1)"
        for net in OrtsnetzTable.load()
        if net.code not in CONFIG.center_by_ortsnetz
    }
    assert set(data) == served | unserved
    assert len(data) == len(served | unserved)


def test_postal_codes_in_the_fallback_data() -> None:
    data = set(_context("lotse-fallback-postal"))
    for cid, center in CONFIG.centers.items():
        for code in center.postal_codes.exact:
            assert f"exten => x{code},1,Goto(lotse-fallback,home-{cid},1)" in data
        for prefix in center.postal_codes.prefixes:
            assert f"exten => p{prefix},1,Goto(lotse-fallback,home-{cid},1)" in data
    plz = "\n".join(_extension("lotse-fallback", "plz"))
    assert "GotoIf($[${LOTSE_PLZ} >= 28195 & ${LOTSE_PLZ} <= 28779]?home-bremen,1)" in plz


def test_fallback_normalises_the_caller_and_prefers_the_dialed_ortsnetz() -> None:
    start = "\n".join(_extension("lotse-fallback", "s"))
    assert start.index("LOTSE_DIALED") < start.index("CALLERID(num)")
    assert '"${LOTSE_FB_NUM:0:3}" = "+49"' in start
    assert '"${LOTSE_FB_NUM:0:4}" = "0049"' in start
    lookups = re.findall(
        r"DIALPLAN_EXISTS\(lotse-fallback-ortsnetz,\$\{LOTSE_FB_NUM:1:(\d)\}", start
    )
    assert lookups == ["5", "4", "3", "2"]  # longest prefix first
    assert start.count("Goto(unknown,1)") == 1


def test_opening_hours_in_the_config_time_zone() -> None:
    wittenberg = "\n".join(_extension("lotse-fallback", "center-wittenberg"))
    assert "GotoIfTime(08:00-17:59,mon-thu,*,*,Europe/Berlin?open)" in wittenberg
    assert "GotoIfTime(08:00-13:59,fri,*,*,Europe/Berlin?open)" in wittenberg
    halberstadt = "\n".join(_extension("lotse-fallback", "center-halberstadt"))
    assert "GotoIfTime(08:00-11:59&13:00-17:59,wed,*,*,Europe/Berlin?open)" in halberstadt
    assert "STRFTIME(${LOTSE_FB_NOW},Europe/Berlin,%Y%m%d)" in TEXT


def test_closed_days_cover_closures_and_holidays() -> None:
    closed = _context("lotse-fallback-closed")
    assert any(line.startswith("exten => bremen-20261224,1,") for line in closed)
    # Reformationstag: a holiday in Sachsen-Anhalt, not in Nordrhein-Westfalen.
    assert any(line.startswith("exten => wittenberg-20261031,1,") for line in closed)
    assert not any(line.startswith("exten => paderborn-20261031,1,") for line in closed)


def test_fallback_is_counted_without_personal_data() -> None:
    events = [line for line in LINES if "UserEvent(LotseFallback" in line]
    assert len(events) == len(CONFIG.centers)
    for line in events:
        assert re.search(
            r"UserEvent\(LotseFallback,Center:[a-z0-9_-]+,Reason:\$\{LOTSE_FALLBACK_REASON\}\)$",
            line,
        ), line
    assert "Set(LOTSE_FALLBACK=1)" in TEXT


def test_no_caller_number_leaks_into_the_dialplan() -> None:
    # Long digit runs would be numbers; the only ones allowed are closed-day dates
    # (and whatever the configuration's sha256 happens to hold).
    for line in LINES:
        if line.startswith(";"):
            continue
        for run in re.findall(r"\d{6,}", line.replace(CONFIG.sha256, "<sha256>")):
            assert re.fullmatch(r"20\d{6}", run) and "-" + run in line, line
    # Caller IDs are read once, for routing, and never handed to an event or a log line.
    # (The callback dialogue only asks whether there is one to call back.)
    uses = [line for line in LINES if "CALLERID" in line and not line.startswith(";")]
    assert len(uses) == 2 and "FILTER(0-9+,${CALLERID(num)})" in uses[0]
    assert uses[1] == ' same => n,GotoIf($["${CALLERID(num)}" = ""]?enter)'
    assert "NoOp(${CALLERID" not in TEXT and "Verbose(" not in TEXT
    # Log() writes to Asterisk's logs; QueueLog() (the fallback's books) carries no number.
    assert re.search(r"(?<![A-Za-z])Log\(", TEXT) is None


def _dialplan_index() -> dict[str, dict[str, set[str]]]:
    """Context → extension → its labels (plus "1"), from the generated text."""
    index: dict[str, dict[str, set[str]]] = {}
    context = exten = ""
    for line in LINES:
        if line.startswith("["):
            context = line[1:-1]
            index[context] = {}
        elif line.startswith("exten => "):
            exten = line[len("exten => ") :].split(",", 1)[0]
            index[context][exten] = {"1"}
        if line.startswith(("exten => ", " same => ")):
            label = re.match(r"(?:exten => [^,]*,1|same => n)\(([a-z]+)\)", line.strip())
            if label:
                index[context][exten].add(label[1])
    return index


def _destinations(line: str) -> list[str]:
    """Static jump targets of a Goto/GotoIf/GotoIfTime line (dynamic ones left out)."""
    found: list[str] = []
    app = re.search(r",(Goto|GotoIf|GotoIfTime)\((.*)\)(\s*;.*)?$", line)
    if app is None:
        return found
    name, args = app[1], app[2]
    if name != "Goto":
        args = args.rsplit("?", 1)[1]
    if "${" in args:
        return found
    return [dest for dest in args.split(":") if dest]


def test_every_jump_lands_on_an_existing_extension_and_label() -> None:
    index = _dialplan_index()
    context = exten = ""
    checked = 0
    for line in LINES:
        if line.startswith("["):
            context = line[1:-1]
        elif line.startswith("exten => "):
            exten = line[len("exten => ") :].split(",", 1)[0]
        for dest in _destinations(line):
            *where, label = dest.split(",")
            target_context, target_exten = ([context, exten][: 2 - len(where)] + where)[-2:]
            assert target_context in index, line
            assert target_exten in index[target_context], line
            assert label in index[target_context][target_exten], line
            checked += 1
    assert checked > 50


def test_the_fallback_writes_its_books_into_the_queue_log_on_every_path() -> None:
    # Each home the fallback routes to writes LOTSEFALLBACK with its center
    # (Asterisk's QueueLog(queuename,uniqueid,agent,event,info)), and each
    # final announcement LOTSEANNOUNCE before it plays: the call is counted from
    # the queue_log even when no controller heard the UserEvent.
    fallback = _context("lotse-fallback")
    routed = [line for line in fallback if ",LOTSEFALLBACK," in line]
    assert sorted(re.findall(r",LOTSEFALLBACK,([a-z0-9-]*)\|", "\n".join(routed))) == sorted(
        CONFIG.centers
    )
    for line in routed:
        assert line.endswith(
            "QueueLog(lotse-fallback,${UNIQUEID},NONE,LOTSEFALLBACK,"
            + line.split(",LOTSEFALLBACK,")[1].split("|")[0]
            + "|${LOTSE_FALLBACK_REASON})"
        ), line
    plays = [i for i, line in enumerate(fallback) if "Playback(" in line]
    announced = [i for i in plays if "Playback(${LOTSE_FB_GREETING})" not in fallback[i]]
    assert len(announced) == 2  # off-hours and all busy (unconnected: the fallback center)
    for i in announced:
        assert ",LOTSEANNOUNCE,${LOTSE_HOME}|" in fallback[i - 2], fallback[i - 2 : i + 1]
        assert "Answer()" in fallback[i - 1]
