"""Every path of the policy as one whole decision: each field and each reason, in order.

One example per branch of ``router/policy.py`` (home by dialed Ortsnetz, postal
code, caller's Ortsnetz, prompt, fallback; target open, closed, overloaded,
spilled; the hop limit), written out in full so that a changed comparison, a
dropped field or a reworded reason fails here and not only end to end.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

import pytest

from router.config import UnconnectedMode, UnknownOrigin, UnknownOriginMode
from router.numbering import OrtsnetzTable, classify_caller
from router.policy import Action, Call, Router, closed_at, decide, decide_at, overload_reason
from router.state import CenterState, Override, Snapshot
from tests.router.network import demo_config

QUEUE, ANNOUNCE, ASK_POSTAL_CODE = Action.QUEUE, Action.ANNOUNCE, Action.ASK_POSTAL_CODE
B = ZoneInfo("Europe/Berlin")
TABLE = OrtsnetzTable.load()
TUE = datetime(2026, 11, 24, 10, 0, tzinfo=B)  # a plain Tuesday: everyone open
EVE = datetime(2026, 11, 24, 19, 0, tzinfo=B)  # after 18:00, Sachsen-Anhalt until 20:00
LATE = datetime(2026, 11, 24, 20, 30, tzinfo=B)  # only the national center (until 22:00)
XMAS = datetime(2026, 12, 24, 10, 0, tzinfo=B)  # Bremen's closure day
XMAS_NIGHT = datetime(2026, 12, 24, 22, 30, tzinfo=B)  # nobody open
SUNDAY = datetime(2026, 11, 29, 10, 0, tzinfo=B)
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=B)  # only the national center (08:00-20:00)
FRONLEICHNAM = datetime(2027, 5, 27, 10, 0, tzinfo=B)  # a holiday in NW, not in ST
IDLE = CenterState(agents_logged_in=5, agents_available=5, avg_handle_s=180)
CLOSED = CenterState(agents_logged_in=5, agents_available=5, override=Override.CLOSED)


def compiled(kind: str) -> Router:
    """A router built in the test itself: every call of it runs the code under test."""
    if kind == "fallback":
        return Router(
            demo_config(unknown_origin=UnknownOrigin(mode=UnknownOriginMode.FALLBACK)), TABLE
        )
    if kind == "announce":
        return Router(demo_config(unconnected=UnconnectedMode.ANNOUNCEMENT), TABLE)
    return Router(demo_config(), TABLE)


def snap(**states: CenterState) -> Snapshot:
    centers = {
        cid: IDLE
        for cid in ("bremen", "wittenberg", "halberstadt", "paderborn", "sachsen-anhalt", "bund")
    }
    centers.update({cid.replace("_", "-"): state for cid, state in states.items()})
    return Snapshot(centers=centers)


def busy(waiting: int) -> CenterState:
    """Three agents on 200 s calls: over the limit of 10 waiting, wait (waiting+1)·200/3 s."""
    return CenterState(waiting=waiting, agents_logged_in=3, agents_busy=3, avg_handle_s=200)


class Expected(NamedTuple):
    action: Action
    home: str | None
    target: str | None
    announcement: str | None
    timeout: int
    via: str
    dialed: str | None
    offhours: bool
    prompt: str | None
    reasons: tuple[str, ...]


CASES = [
    pytest.param(
        Call("03491 123456"),
        TUE,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "wittenberg",
            "wittenberg",
            None,
            30,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "wittenberg open",
                "queue 115-wittenberg, spill to sachsen-anhalt after 30 s",
            ),
        ),
        id="landline",
    ),
    pytest.param(
        Call("0421 1234567", dialed="05251115"),
        TUE,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "paderborn",
            "paderborn",
            None,
            30,
            via="dialed",
            dialed="5251",
            offhours=False,
            prompt=None,
            reasons=(
                "home=paderborn via dialed Ortsnetz 05251 (Paderborn)",
                "paderborn open",
                "queue 115-paderborn, spill to bund after 30 s",
            ),
        ),
        id="dialed",
    ),
    pytest.param(
        Call("0421 1234567", dialed="0221115"),
        TUE,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "bund",
            "bund",
            None,
            0,
            via="fallback",
            dialed="221",
            offhours=False,
            prompt=None,
            reasons=(
                "home=bund: fallback, region not connected (dialed Ortsnetz 0221 (Köln))",
                "bund open",
                "final queue 115-bund: no further partner open",
            ),
        ),
        id="dialed unconnected",
    ),
    pytest.param(
        Call("0421 1234567", dialed="0221115"),
        TUE,
        snap(),
        "announce",
        Expected(
            ANNOUNCE,
            None,
            None,
            "lotse/region-not-connected",
            0,
            via="",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=("region not connected (dialed Ortsnetz 0221 (Köln))",),
        ),
        id="dialed unconnected announce",
    ),
    pytest.param(
        Call("0171 1234567", postal_code=" 33098 "),
        TUE,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "paderborn",
            "paderborn",
            None,
            30,
            via="postal_code",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=paderborn via postal code 33098",
                "paderborn open",
                "queue 115-paderborn, spill to bund after 30 s",
            ),
        ),
        id="postal mobile",
    ),
    pytest.param(
        Call("0421 1234567", postal_code="33098"),
        TUE,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "paderborn",
            "paderborn",
            None,
            30,
            via="postal_code",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=paderborn via postal code 33098",
                "paderborn open",
                "queue 115-paderborn, spill to bund after 30 s",
            ),
        ),
        id="postal landline",
    ),
    pytest.param(
        Call("0171 1234567", postal_code="3309"),
        TUE,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "bund",
            "bund",
            None,
            0,
            via="fallback",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=bund: fallback, postal code input unusable",
                "bund open",
                "final queue 115-bund: no further partner open",
            ),
        ),
        id="postal 4",
    ),
    pytest.param(
        Call("0171 1234567", postal_code="330981"),
        TUE,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "bund",
            "bund",
            None,
            0,
            via="fallback",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=bund: fallback, postal code input unusable",
                "bund open",
                "final queue 115-bund: no further partner open",
            ),
        ),
        id="postal 6",
    ),
    pytest.param(
        Call("0171 1234567", postal_code="3309x"),
        TUE,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "bund",
            "bund",
            None,
            0,
            via="fallback",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=bund: fallback, postal code input unusable",
                "bund open",
                "final queue 115-bund: no further partner open",
            ),
        ),
        id="postal letters",
    ),
    pytest.param(
        Call("0171 1234567", postal_code="50667"),
        TUE,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "bund",
            "bund",
            None,
            0,
            via="fallback",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=bund: fallback, region not connected (postal code 50667)",
                "bund open",
                "final queue 115-bund: no further partner open",
            ),
        ),
        id="postal unconnected",
    ),
    pytest.param(
        Call("0171 1234567", postal_code=""),
        TUE,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "bund",
            "bund",
            None,
            0,
            via="fallback",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=bund: fallback, no postal code entered",
                "bund open",
                "final queue 115-bund: no further partner open",
            ),
        ),
        id="postal empty mobile",
    ),
    pytest.param(
        Call("0421 1234567", postal_code=""),
        TUE,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "bremen",
            "bremen",
            None,
            30,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=bremen via Ortsnetz 0421 (Bremen)",
                "bremen open",
                "queue 115-bremen, spill to bund after 30 s",
            ),
        ),
        id="postal empty landline",
    ),
    pytest.param(
        Call("0171 1234567"),
        TUE,
        snap(),
        "demo",
        Expected(
            ASK_POSTAL_CODE,
            None,
            None,
            None,
            0,
            via="",
            dialed=None,
            offhours=False,
            prompt="lotse/prompt-postal-code",
            reasons=("mobile caller without Ortsnetz: ask for postal code",),
        ),
        id="ask",
    ),
    pytest.param(
        Call("anonymous"),
        TUE,
        snap(),
        "demo",
        Expected(
            ASK_POSTAL_CODE,
            None,
            None,
            None,
            0,
            via="",
            dialed=None,
            offhours=False,
            prompt="lotse/prompt-postal-code",
            reasons=("anonymous caller without Ortsnetz: ask for postal code",),
        ),
        id="ask anonymous",
    ),
    pytest.param(
        Call("0171 1234567"),
        TUE,
        snap(),
        "fallback",
        Expected(
            QUEUE,
            "bund",
            "bund",
            None,
            0,
            via="fallback",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=bund: fallback, mobile caller without Ortsnetz",
                "bund open",
                "final queue 115-bund: no further partner open",
            ),
        ),
        id="fallback mode",
    ),
    pytest.param(
        Call("anonymous"),
        TUE,
        snap(),
        "fallback",
        Expected(
            QUEUE,
            "bund",
            "bund",
            None,
            0,
            via="fallback",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=bund: fallback, anonymous caller without Ortsnetz",
                "bund open",
                "final queue 115-bund: no further partner open",
            ),
        ),
        id="fallback mode anon",
    ),
    pytest.param(
        Call("03491 123456"),
        EVE,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "wittenberg",
            "sachsen-anhalt",
            None,
            30,
            via="ortsnetz",
            dialed=None,
            offhours=True,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "wittenberg closed: outside opening hours (Tue 08:00-18:00)",
                "off-hours partner sachsen-anhalt open",
                "queue 115-sachsen-anhalt, spill to bund after 30 s",
            ),
        ),
        id="evening",
    ),
    pytest.param(
        Call("03491 123456", visited=("sachsen-anhalt",)),
        EVE,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "wittenberg",
            "bund",
            None,
            0,
            via="ortsnetz",
            dialed=None,
            offhours=True,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "visited sachsen-anhalt",
                "wittenberg closed: outside opening hours (Tue 08:00-18:00)",
                "off-hours partner bund open",
                "final queue 115-bund: no further partner open",
            ),
        ),
        id="evening visited partner",
    ),
    pytest.param(
        Call("03491 123456"),
        LATE,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "wittenberg",
            "bund",
            None,
            0,
            via="ortsnetz",
            dialed=None,
            offhours=True,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "wittenberg closed: outside opening hours (Tue 08:00-18:00)",
                "sachsen-anhalt closed: outside opening hours (Tue 07:00-20:00)",
                "off-hours partner bund open",
                "final queue 115-bund: no further partner open",
            ),
        ),
        id="late",
    ),
    pytest.param(
        Call("0421 1234567"),
        XMAS,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "bremen",
            "bund",
            None,
            0,
            via="ortsnetz",
            dialed=None,
            offhours=True,
            prompt=None,
            reasons=(
                "home=bremen via Ortsnetz 0421 (Bremen)",
                "bremen closed: closure day 2026-12-24",
                "off-hours partner bund open",
                "final queue 115-bund: no further partner open",
            ),
        ),
        id="closure day",
    ),
    pytest.param(
        Call("05251 123456"),
        FRONLEICHNAM,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "paderborn",
            "bund",
            None,
            0,
            via="ortsnetz",
            dialed=None,
            offhours=True,
            prompt=None,
            reasons=(
                "home=paderborn via Ortsnetz 05251 (Paderborn)",
                "paderborn closed: public holiday Fronleichnam (NW)",
                "off-hours partner bund open",
                "final queue 115-bund: no further partner open",
            ),
        ),
        id="holiday",
    ),
    pytest.param(
        Call("03491 123456"),
        XMAS_NIGHT,
        snap(),
        "demo",
        Expected(
            ANNOUNCE,
            "wittenberg",
            None,
            "lotse/offhours-wittenberg",
            0,
            via="ortsnetz",
            dialed=None,
            offhours=True,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "wittenberg closed: outside opening hours (Thu 08:00-18:00)",
                "sachsen-anhalt closed: outside opening hours (Thu 07:00-20:00)",
                "bund closed: outside opening hours (Thu 06:00-22:00)",
                "no off-hours partner open",
            ),
        ),
        id="xmas night",
    ),
    pytest.param(
        Call("0421 1234567"),
        TUE,
        snap(
            bremen=CenterState(
                agents_logged_in=5,
                agents_available=5,
                override=Override.CLOSED,
                override_note="Betriebsversammlung",
            )
        ),
        "demo",
        Expected(
            QUEUE,
            "bremen",
            "bund",
            None,
            0,
            via="ortsnetz",
            dialed=None,
            offhours=True,
            prompt=None,
            reasons=(
                "home=bremen via Ortsnetz 0421 (Bremen)",
                "bremen closed: closed by override: Betriebsversammlung",
                "off-hours partner bund open",
                "final queue 115-bund: no further partner open",
            ),
        ),
        id="override closed",
    ),
    pytest.param(
        Call("0421 1234567"),
        SUNDAY,
        snap(
            bremen=CenterState(
                agents_logged_in=2,
                agents_available=2,
                override=Override.OPEN,
                override_note="Krisentag",
            )
        ),
        "demo",
        Expected(
            QUEUE,
            "bremen",
            "bremen",
            None,
            0,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=bremen via Ortsnetz 0421 (Bremen)",
                "bremen open",
                "open by override: Krisentag",
                "final queue 115-bremen: no further partner open",
            ),
        ),
        id="override open",
    ),
    pytest.param(
        Call("0421 1234567"),
        SUNDAY,
        snap(
            bremen=CenterState(
                waiting=12, agents_logged_in=2, agents_busy=2, override=Override.OPEN
            )
        ),
        "demo",
        Expected(
            QUEUE,
            "bremen",
            "bremen",
            None,
            0,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=bremen via Ortsnetz 0421 (Bremen)",
                "bremen overloaded: 12 waiting >= 10",
                "bund closed: outside opening hours (Sun closed all day)",
                "no partner does better: stay at bremen",
                "final queue 115-bremen: no further partner open",
            ),
        ),
        id="override open while overloaded",
    ),
    pytest.param(
        Call("03491 123456"),
        TUE,
        snap(wittenberg=busy(12)),
        "demo",
        Expected(
            QUEUE,
            "wittenberg",
            "sachsen-anhalt",
            None,
            30,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "wittenberg overloaded: 12 waiting >= 10",
                "overflow partner sachsen-anhalt open",
                "queue 115-sachsen-anhalt, spill to halberstadt after 30 s",
            ),
        ),
        id="overload first partner",
    ),
    pytest.param(
        Call("03491 123456"),
        TUE,
        snap(wittenberg=busy(12), sachsen_anhalt=busy(12)),
        "demo",
        Expected(
            QUEUE,
            "wittenberg",
            "halberstadt",
            None,
            30,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "wittenberg overloaded: 12 waiting >= 10",
                "overflow partner sachsen-anhalt overloaded: 12 waiting >= 10",
                "overflow partner halberstadt open",
                "queue 115-halberstadt, spill to sachsen-anhalt after 30 s",
            ),
        ),
        id="overload second partner",
    ),
    pytest.param(
        Call("03941 12345"),
        datetime(2026, 11, 28, 10, 0, tzinfo=B),
        snap(),
        "demo",
        Expected(
            QUEUE,
            "halberstadt",
            "bund",
            None,
            0,
            via="ortsnetz",
            dialed=None,
            offhours=True,
            prompt=None,
            reasons=(
                "home=halberstadt via Ortsnetz 03941 (Halberstadt)",
                "halberstadt closed: outside opening hours (Sat closed all day)",
                "sachsen-anhalt closed: outside opening hours (Sat closed all day)",
                "off-hours partner bund open",
                "final queue 115-bund: no further partner open",
            ),
        ),
        id="overload partner closed",
    ),
    pytest.param(
        Call("03491 123456"),
        TUE,
        snap(wittenberg=busy(30), sachsen_anhalt=busy(20), halberstadt=busy(11), bund=busy(15)),
        "demo",
        Expected(
            QUEUE,
            "wittenberg",
            "halberstadt",
            None,
            30,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "wittenberg overloaded: 30 waiting >= 10",
                "overflow partner sachsen-anhalt overloaded: 20 waiting >= 10",
                "overflow partner halberstadt overloaded: 11 waiting >= 10",
                "overflow partner bund overloaded: 15 waiting >= 10",
                "overflow partner halberstadt has the shortest expected wait",
                "queue 115-halberstadt, spill to sachsen-anhalt after 30 s",
            ),
        ),
        id="shortest wait",
    ),
    pytest.param(
        Call("03491 123456"),
        TUE,
        snap(wittenberg=busy(11), sachsen_anhalt=busy(20), halberstadt=busy(12), bund=busy(15)),
        "demo",
        Expected(
            QUEUE,
            "wittenberg",
            "wittenberg",
            None,
            30,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "wittenberg overloaded: 11 waiting >= 10",
                "overflow partner sachsen-anhalt overloaded: 20 waiting >= 10",
                "overflow partner halberstadt overloaded: 12 waiting >= 10",
                "overflow partner bund overloaded: 15 waiting >= 10",
                "no partner does better: stay at wittenberg",
                "queue 115-wittenberg, spill to sachsen-anhalt after 30 s",
            ),
        ),
        id="stay",
    ),
    pytest.param(
        Call("03491 123456", visited=("wittenberg",)),
        TUE,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "wittenberg",
            "sachsen-anhalt",
            None,
            30,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "visited wittenberg",
                "spill from wittenberg",
                "overflow partner sachsen-anhalt open",
                "queue 115-sachsen-anhalt, spill to halberstadt after 30 s",
            ),
        ),
        id="spill",
    ),
    pytest.param(
        Call("03491 123456"),
        EVE,
        snap(sachsen_anhalt=busy(20), bund=busy(11)),
        "demo",
        Expected(
            QUEUE,
            "wittenberg",
            "bund",
            None,
            30,
            via="ortsnetz",
            dialed=None,
            offhours=True,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "wittenberg closed: outside opening hours (Tue 08:00-18:00)",
                "off-hours partner sachsen-anhalt overloaded: 20 waiting >= 10",
                "off-hours partner bund overloaded: 11 waiting >= 10",
                "off-hours partner bund has the shortest expected wait",
                "queue 115-bund, spill to sachsen-anhalt after 30 s",
            ),
        ),
        id="evening, both off-hours partners overloaded",
    ),
    pytest.param(
        Call("03491 123456"),
        TUE,
        Snapshot(centers={"wittenberg": busy(12)}),
        "demo",
        Expected(
            QUEUE,
            "wittenberg",
            "sachsen-anhalt",
            None,
            30,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "wittenberg overloaded: 12 waiting >= 10",
                "overflow partner sachsen-anhalt open",
                "queue 115-sachsen-anhalt, spill to halberstadt after 30 s",
            ),
        ),
        id="overload, the partners' state not reported",
    ),
    pytest.param(
        Call("03491 123456"),
        TUE,
        snap(
            wittenberg=busy(12),
            sachsen_anhalt=CenterState(waiting=15),
            halberstadt=busy(11),
            bund=busy(20),
        ),
        "demo",
        Expected(
            QUEUE,
            "wittenberg",
            "halberstadt",
            None,
            30,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "wittenberg overloaded: 12 waiting >= 10",
                "overflow partner sachsen-anhalt overloaded: 15 waiting >= 10",
                "overflow partner halberstadt overloaded: 11 waiting >= 10",
                "overflow partner bund overloaded: 20 waiting >= 10",
                "overflow partner halberstadt has the shortest expected wait",
                "queue 115-halberstadt, spill to sachsen-anhalt after 30 s",
            ),
        ),
        id="overload, a partner's agents unknown",
    ),
    pytest.param(
        Call("03491 123456"),
        TUE,
        snap(
            wittenberg=CenterState(waiting=12),
            sachsen_anhalt=busy(20),
            halberstadt=busy(11),
            bund=busy(15),
        ),
        "demo",
        Expected(
            QUEUE,
            "wittenberg",
            "halberstadt",
            None,
            30,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "wittenberg overloaded: 12 waiting >= 10",
                "overflow partner sachsen-anhalt overloaded: 20 waiting >= 10",
                "overflow partner halberstadt overloaded: 11 waiting >= 10",
                "overflow partner bund overloaded: 15 waiting >= 10",
                "overflow partner halberstadt has the shortest expected wait",
                "queue 115-halberstadt, spill to sachsen-anhalt after 30 s",
            ),
        ),
        id="overload, the home's agents unknown",
    ),
    pytest.param(
        Call("0421 1234567", dialed="05251115", visited=("paderborn", "bund")),
        TUE,
        snap(),
        "demo",
        Expected(
            ANNOUNCE,
            "paderborn",
            None,
            "lotse/all-busy",
            0,
            via="dialed",
            dialed="5251",
            offhours=False,
            prompt=None,
            reasons=(
                "home=paderborn via dialed Ortsnetz 05251 (Paderborn)",
                "visited paderborn, bund",
                "spill from bund",
                "no unvisited partner open",
            ),
        ),
        id="dialed, no partner left",
    ),
    pytest.param(
        Call("03491 123456", visited=("wittenberg",)),
        TUE,
        snap(
            halberstadt=CenterState(
                agents_logged_in=5, agents_available=5, override=Override.CLOSED
            )
        ),
        "demo",
        Expected(
            QUEUE,
            "wittenberg",
            "sachsen-anhalt",
            None,
            30,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "visited wittenberg",
                "spill from wittenberg",
                "overflow partner sachsen-anhalt open",
                "queue 115-sachsen-anhalt, spill to bund after 30 s",
            ),
        ),
        id="spill skips a closed onward partner",
    ),
    pytest.param(
        Call("03491 123456", visited=("wittenberg",)),
        TUE,
        snap(sachsen_anhalt=busy(20), halberstadt=busy(11), bund=busy(15)),
        "demo",
        Expected(
            QUEUE,
            "wittenberg",
            "halberstadt",
            None,
            30,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "visited wittenberg",
                "spill from wittenberg",
                "overflow partner sachsen-anhalt overloaded: 20 waiting >= 10",
                "overflow partner halberstadt overloaded: 11 waiting >= 10",
                "overflow partner bund overloaded: 15 waiting >= 10",
                "overflow partner halberstadt has the shortest expected wait",
                "queue 115-halberstadt, spill to sachsen-anhalt after 30 s",
            ),
        ),
        id="spill overloaded all",
    ),
    pytest.param(
        Call("05251 123456", visited=("paderborn", "bund")),
        TUE,
        snap(),
        "demo",
        Expected(
            ANNOUNCE,
            "paderborn",
            None,
            "lotse/all-busy",
            0,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=paderborn via Ortsnetz 05251 (Paderborn)",
                "visited paderborn, bund",
                "spill from bund",
                "no unvisited partner open",
            ),
        ),
        id="spill none left",
    ),
    pytest.param(
        Call("03491 123456", visited=("wittenberg", "sachsen-anhalt", "halberstadt")),
        TUE,
        snap(),
        "demo",
        Expected(
            ANNOUNCE,
            "wittenberg",
            None,
            "lotse/all-busy",
            0,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "visited wittenberg, sachsen-anhalt, halberstadt",
                "hop limit 3 reached",
            ),
        ),
        id="hop limit",
    ),
    pytest.param(
        Call("03491 123456", visited=("wittenberg", "sachsen-anhalt")),
        TUE,
        snap(),
        "demo",
        Expected(
            QUEUE,
            "wittenberg",
            "halberstadt",
            None,
            0,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=wittenberg via Ortsnetz 03491 (Lutherstadt Wittenberg)",
                "visited wittenberg, sachsen-anhalt",
                "spill from sachsen-anhalt",
                "overflow partner halberstadt open",
                "final queue 115-halberstadt: hop limit 3",
            ),
        ),
        id="hop limit minus one",
    ),
    pytest.param(
        Call("05251 123456"),
        TUE,
        snap(paderborn=CenterState(agents_logged_in=0)),
        "demo",
        Expected(
            QUEUE,
            "paderborn",
            "bund",
            None,
            0,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=paderborn via Ortsnetz 05251 (Paderborn)",
                "paderborn overloaded: no agent logged in",
                "overflow partner bund open",
                "final queue 115-bund: no further partner open",
            ),
        ),
        id="no agents",
    ),
    pytest.param(
        Call("05251 123456"),
        TUE,
        snap(paderborn=CenterState(agents_logged_in=1, agents_available=1)),
        "demo",
        Expected(
            QUEUE,
            "paderborn",
            "paderborn",
            None,
            30,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=paderborn via Ortsnetz 05251 (Paderborn)",
                "paderborn open",
                "queue 115-paderborn, spill to bund after 30 s",
            ),
        ),
        id="one agent",
    ),
    pytest.param(
        Call("05251 123456"),
        TUE,
        Snapshot(),
        "demo",
        Expected(
            QUEUE,
            "paderborn",
            "paderborn",
            None,
            30,
            via="ortsnetz",
            dialed=None,
            offhours=False,
            prompt=None,
            reasons=(
                "home=paderborn via Ortsnetz 05251 (Paderborn)",
                "paderborn open",
                "queue 115-paderborn, spill to bund after 30 s",
            ),
        ),
        id="unknown state",
    ),
]


@pytest.mark.parametrize(("call", "now", "snapshot", "router", "expected"), CASES)
def test_the_whole_decision(
    call: Call, now: datetime, snapshot: Snapshot, router: str, expected: Expected
) -> None:
    d = decide(call, now, snapshot, compiled(router))
    assert d.action is expected.action
    assert d.origin == classify_caller(call.caller, TABLE)
    assert (d.home, d.target, d.announcement) == (
        expected.home,
        expected.target,
        expected.announcement,
    )
    # The demo network names queues and greetings after the center.
    assert d.queue == (f"115-{expected.target}" if expected.target else None)
    assert d.greeting == (f"lotse/greeting-{expected.home}" if expected.home else None)
    assert d.queue_timeout_s == expected.timeout
    assert (d.home_via, d.dialed_ortsnetz, d.offhours, d.prompt) == (
        expected.via,
        expected.dialed,
        expected.offhours,
        expected.prompt,
    )
    assert d.reasons == expected.reasons


@pytest.mark.parametrize(("call", "now", "snapshot", "router", "expected"), CASES)
def test_decide_at_a_local_instant_is_decide(
    call: Call, now: datetime, snapshot: Snapshot, router: str, expected: Expected
) -> None:
    demo = compiled(router)
    at = decide_at(call, demo.instant(now), snapshot, demo)
    assert at == decide(call, now, snapshot, demo)
    assert at.reasons == expected.reasons


def test_the_public_checks_are_the_policys_own() -> None:
    demo = compiled("demo")
    plans, instant = demo.plans, demo.instant
    assert closed_at(plans["bremen"], instant(TUE), snap()) is None
    assert closed_at(plans["bremen"], instant(XMAS), snap()) == "closure day 2026-12-24"
    assert closed_at(plans["paderborn"], instant(FRONLEICHNAM), snap()) == (
        "public holiday Fronleichnam (NW)"
    )
    assert closed_at(plans["bremen"], instant(EVE), snap()) == (
        "outside opening hours (Tue 08:00-18:00)"
    )
    assert closed_at(plans["bremen"], instant(TUE), snap(bremen=CLOSED)) == (
        "closed by override: no reason given"
    )
    opened = CenterState(override=Override.OPEN)
    assert closed_at(plans["bremen"], instant(SUNDAY), snap(bremen=opened)) is None
    assert opened.override_open_reason() == "open by override: no reason given"
    assert overload_reason(plans["bremen"], IDLE) is None
    assert overload_reason(plans["bremen"], busy(10)) == "10 waiting >= 10"
    assert overload_reason(plans["bremen"], CenterState(agents_logged_in=0)) == (
        "no agent logged in"
    )


def test_a_caller_classified_elsewhere_keeps_their_own_origin() -> None:
    # The simulator classifies callers with its own table: equal origins, other objects.
    for kind, number in (("demo", "0421 1234567"), ("announce", "0221 1234567")):
        router = compiled(kind)
        mine = classify_caller(number, TABLE)
        theirs = type(mine)(mine.kind, mine.ortsnetz, mine.masked)
        assert theirs is not mine
        home = router.landline_home(theirs)
        assert home.origin is theirs
        assert home == router.landline_home(mine)
        if home.early is not None:
            assert home.early.origin is theirs
            assert home.early.reasons == ("region not connected (Ortsnetz 0221 (Köln))",)
    cologne = classify_caller("0221 1234567", TABLE)
    assert compiled("announce").landline_home(cologne).early is not None


def test_the_minute_of_a_moment_before_1970_is_its_own() -> None:
    # 1969-12-31 23:59:30 UTC is 00:59 in Berlin: the minute is floored, not rounded to 0.
    instant = compiled("demo").instant_at(-30.0)
    assert (instant.moment.day.isoformat(), instant.moment.minute) == ("1970-01-01", 59)


def test_the_expected_wait_of_a_new_caller() -> None:
    # Without a reported handle time a call is taken to last 240 s.
    assert CenterState(waiting=1, agents_logged_in=1, agents_busy=1).expected_wait_s() == 480.0
    assert busy(2).expected_wait_s() == 200.0
    assert CenterState(waiting=3, agents_logged_in=0).expected_wait_s() == float("inf")
    assert CenterState(waiting=1, agents_available=2).expected_wait_s() is None
    assert CenterState(waiting=1, agents_logged_in=2, agents_available=2).expected_wait_s() == 0.0
