"""Control connection slots: per uid, the longest-silent given up, operators always in."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lotse.control.slots import Slots

ROOT, OPERATOR, ALICE, BOB = 0, 990, 1001, 1002
OPERATORS = frozenset({ROOT, OPERATOR})


def test_a_uid_at_its_limit_gives_up_its_longest_silent_connection() -> None:
    slots: Slots[str] = Slots(OPERATORS, per_uid=3, max_shared=10)
    for n, key in enumerate(("a", "b", "c")):
        assert slots.admit(key, ALICE, float(n)).admitted
    slots.idle("a", 5.0)  # answered a request later than b and c connected
    admission = slots.admit("d", ALICE, 6.0)
    assert admission.admitted and admission.evict == "b"
    assert slots.held_by(ALICE) == 3


def test_connections_serving_a_request_are_never_given_up() -> None:
    slots: Slots[str] = Slots(OPERATORS, per_uid=2, max_shared=10)
    for key in ("a", "b"):
        slots.admit(key, ROOT, 0.0)
        slots.serving(key)
    assert not slots.admit("c", ROOT, 1.0).admitted
    slots.idle("b", 2.0)
    assert slots.admit("c", ROOT, 3.0).evict == "b"


def test_one_user_does_not_crowd_out_another() -> None:
    slots: Slots[str] = Slots(OPERATORS, per_uid=2, max_shared=10)
    for n in range(50):
        slots.admit(f"alice{n}", ALICE, float(n))
    assert slots.held_by(ALICE) == 2
    assert slots.admit("bob", BOB, 99.0).admitted


def test_the_shared_ceiling_binds_the_unprivileged_only() -> None:
    slots: Slots[str] = Slots(OPERATORS, per_uid=2, max_shared=3)
    assert slots.admit("a1", ALICE, 0).admitted
    assert slots.admit("a2", ALICE, 0).admitted
    # The ceiling itself: the third unprivileged connection fits, a fourth does not.
    assert slots.admit("b1", BOB, 0).admitted
    assert not slots.admit("b2", BOB, 0).admitted
    assert not slots.admit("c1", 1003, 0).admitted
    for uid in OPERATORS:
        assert slots.admit(f"op{uid}", uid, 0).admitted
    slots.release("a1")
    assert slots.admit("b2", BOB, 0).admitted


def test_limits_below_one_are_refused() -> None:
    with pytest.raises(ValueError):
        Slots(OPERATORS, per_uid=0)


_EVENT = st.tuples(
    st.sampled_from(("admit", "serve", "idle", "release")),
    st.integers(0, 30),  # connection
    st.sampled_from((ROOT, OPERATOR, ALICE, BOB, 1003, 1004)),
)


@given(st.lists(_EVENT, max_size=200))
def test_bounds_hold_and_an_operator_with_an_idle_slot_always_gets_in(
    events: list[tuple[str, int, int]],
) -> None:
    per_uid, max_shared = 3, 5
    slots: Slots[int] = Slots(OPERATORS, per_uid=per_uid, max_shared=max_shared)
    owner: dict[int, int] = {}
    serving: set[int] = set()
    for now, (what, key, uid) in enumerate(events):
        if what == "admit" and key not in owner:
            admission = slots.admit(key, uid, float(now))
            mine = [k for k, u in owner.items() if u == uid]
            if uid in OPERATORS and (len(mine) < per_uid or set(mine) - serving):
                assert admission.admitted
            if admission.evict is not None:
                assert owner.pop(admission.evict) == uid
                assert admission.evict not in serving
            if admission.admitted:
                owner[key] = uid
        elif key in owner and what == "serve":
            slots.serving(key)
            serving.add(key)
        elif key in owner and what == "idle":
            slots.idle(key, float(now))
            serving.discard(key)
        elif key in owner and what == "release":
            slots.release(key)
            owner.pop(key)
            serving.discard(key)
        assert len(slots) == len(owner)
        for uid in set(owner.values()):
            assert slots.held_by(uid) <= per_uid
        assert sum(1 for u in owner.values() if u not in OPERATORS) <= max_shared
