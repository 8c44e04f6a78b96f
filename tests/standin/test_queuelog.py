"""The stand-in's queue_log has the real one's shapes, and lotse imports it like the real one."""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

from ami.queuelog import FALLBACK_EVENTS, QueueLogLine, parse_chunk
from lotse.queuelog.journeys import Folder
from router.numbering import OrtsnetzTable
from standin import ManualClock, OutcomeKind, Pbx
from standin.agents import AgentProfile, Duration
from standin.queuelog import QueueLogFile
from standin.staffing import AgentSpec, Staffing
from tests.ami.test_queuelog import REAL, needs_real
from tests.standin.kit import MONDAY_10, small_config
from tests.standin.test_model import run_until

BREMEN = "04211234567"


def shapes(lines: list[QueueLogLine]) -> dict[str, set[tuple[int, bool]]]:
    """Per event: (number of data fields, whether a member is named) as they occur."""
    out: dict[str, set[tuple[int, bool]]] = defaultdict(set)
    for line in lines:
        out[line.event].add((len(line.data), line.agent != "NONE"))
    return dict(out)


def journeys(lines: list[QueueLogLine]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for line in lines:
        out[line.callid].append(line.event)
    return dict(out)


async def standin_log(
    tmp_path: Path,
) -> tuple[list[QueueLogLine], dict[str, OutcomeKind], dict[str, str]]:
    """An answered, an abandoned and a timed-out call through the stand-in's queues.

    No FastAGI: the generated static fallback routes, on a Monday morning.
    Wittenberg overflows to Bremen, so the fallback queues its caller there
    with Wittenberg's timeout, and after it at Bremen.
    """
    path = tmp_path / "queue_log"
    clock = ManualClock(MONDAY_10)
    config = small_config()
    wittenberg = replace(config.centers["wittenberg"], overflow_partners=("bremen",))
    config = replace(config, centers={**config.centers, "wittenberg": wittenberg})
    slow = AgentProfile(ring=Duration(mean=100.0), handle=Duration(mean=20.0))
    fast = AgentProfile(ring=Duration(mean=2.0), handle=Duration(mean=20.0))
    staffing = Staffing(
        {"115-bremen": (AgentSpec("a1", fast),), "115-wittenberg": (AgentSpec("w1", slow),)}
    )
    pbx = Pbx(
        config,
        staffing=staffing,
        clock=clock,
        agi_url=None,
        rng=random.Random(3),
        queue_log=path,
    )
    answered = await pbx.place_call(BREMEN)
    await clock.advance(1)
    abandoned = await pbx.place_call(BREMEN, patience_s=5)  # a1 is busy: waits, gives up
    await clock.advance(1)
    timed_out = await pbx.place_call("03491123456")  # w1 never answers in time
    handles = (answered, abandoned, timed_out)
    await run_until(clock, lambda: all(h.done() for h in handles))
    kinds = {}
    for h in handles:
        outcome = await h.outcome()
        kinds[outcome.uniqueid] = outcome.kind
    roles = dict(
        zip(("answered", "abandoned", "timed_out"), (h.uniqueid for h in handles), strict=True)
    )
    await pbx.close()
    chunk = parse_chunk(path.read_bytes())
    assert (chunk.bad, chunk.unknown, chunk.consumed) == (0, 0, path.stat().st_size)
    return chunk.lines, kinds, roles


async def test_answered_abandoned_and_timed_out_calls_are_logged(tmp_path: Path) -> None:
    lines, kinds, roles = await standin_log(tmp_path)
    assert lines[0].event == "QUEUESTART" and lines[0].data == ("",)
    by_call = journeys(lines[1:])
    got = {
        role: [e for e in by_call[cid] if not e.startswith("RING")] for role, cid in roles.items()
    }
    # No FastAGI: the static fallback routed each call and wrote its own line first.
    assert got["answered"] == ["LOTSEFALLBACK", "ENTERQUEUE", "CONNECT", "COMPLETEAGENT"]
    assert got["abandoned"] == ["LOTSEFALLBACK", "ENTERQUEUE", "ABANDON"]
    # Wittenberg's slow agent never answers within its timeout: the caller is
    # timed out there and the fallback queues them at Bremen, where a1 answers.
    timed_out = next(cid for cid, kind in kinds.items() if by_call[cid][2:3] == ["RINGNOANSWER"])
    assert timed_out == roles["timed_out"]
    assert by_call[timed_out][:3] == ["LOTSEFALLBACK", "ENTERQUEUE", "RINGNOANSWER"]
    assert got["timed_out"] == [
        "LOTSEFALLBACK",
        "ENTERQUEUE",
        "EXITWITHTIMEOUT",
        "ENTERQUEUE",
        "CONNECT",
        "COMPLETEAGENT",
    ]
    routed = lines[1]
    assert (routed.queue, routed.agent, routed.event) == ("lotse-fallback", "NONE", "LOTSEFALLBACK")
    assert routed.callid == roles["answered"] and routed.data == ("bremen", "agi-failure")
    enter = next(x for x in lines if x.event == "ENTERQUEUE")
    assert enter.data == ("", BREMEN, "1")
    connect = next(x for x in lines if x.event == "CONNECT")
    assert connect.agent == "a1" and connect.data[0].isdigit()
    assert re.fullmatch(r"[0-9]+\.[0-9]+", connect.data[1])  # the member channel
    complete = next(x for x in lines if x.event == "COMPLETEAGENT")
    assert complete.data[1] == "20"


@needs_real
async def test_the_fields_are_those_of_the_real_queue_log(tmp_path: Path) -> None:
    lines, _, _ = await standin_log(tmp_path)
    real = shapes(parse_chunk(REAL.read_bytes()).lines)
    # The static fallback's own lines (QueueLog()) are lotse's, not app_queue's.
    mine = shapes([x for x in lines if x.event not in FALLBACK_EVENTS])
    assert set(mine) <= set(real), set(mine) - set(real)
    for event, seen in mine.items():
        assert seen <= real[event], (event, seen, real[event])
    assert {"ENTERQUEUE", "CONNECT", "COMPLETEAGENT", "ABANDON", "EXITWITHTIMEOUT"} <= set(mine)


async def test_lotse_reads_the_stand_ins_queue_log_as_asterisks(tmp_path: Path) -> None:
    lines, kinds, _ = await standin_log(tmp_path)
    folder = Folder(small_config(), OrtsnetzTable.load(), lambda number: "h")
    folder.add_all(lines)
    folder.settle(10**10)
    outcome = {}
    for journey in folder.take():
        last = [f.key[0] for f in journey.facts if f.key[0] in ("answered", "abandoned")]
        outcome[journey.call_id] = last[-1] if last else "unanswered"
    assert {cid: outcome[cid] for cid in kinds} == {
        cid: {OutcomeKind.ANSWERED: "answered", OutcomeKind.ABANDONED: "abandoned"}.get(
            kind, "unanswered"
        )
        for cid, kind in kinds.items()
    }


def test_queue_log_application_lines_are_written_as_ast_queue_log_writes_them(
    tmp_path: Path,
) -> None:
    # main/logger.c: "%ld|%s|%s|%s|%s|" (time, callid, queuename, agent, event)
    # then the additional info as given: its '|' split it into data fields,
    # and an empty one leaves the trailing '|'.
    path = tmp_path / "queue_log"
    log = QueueLogFile(path, ManualClock(MONDAY_10))
    log.custom("lotse-fallback", "1700000000.7", "NONE", "LOTSEFALLBACK", "bremen|agi-failure")
    log.custom("q", "1700000000.8", "Anna", "WENTONBREAK", "")
    log.custom("q", "1700000000.9", "Anna", "NOTE", "a,b")
    log.close()
    t = int(MONDAY_10)
    assert path.read_text().splitlines() == [
        f"{t}|1700000000.7|lotse-fallback|NONE|LOTSEFALLBACK|bremen|agi-failure",
        f"{t}|1700000000.8|q|Anna|WENTONBREAK|",
        f"{t}|1700000000.9|q|Anna|NOTE|a,b",
    ]
