"""Loading config.yaml: the shipped demo network, and every way a config is refused."""

from __future__ import annotations

import itertools
import textwrap
from datetime import date, time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from router.config import Endpoint, TimeRange, UnconnectedMode, UnknownOriginMode
from router.configload import (
    ConfigError,
    Problem,
    check_main,
    load_config,
    load_config_text,
    summary,
)
from router.configvalues import parse_endpoint, parse_postal
from router.numbering import OrtsnetzTable

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "config.yaml"
FIXTURES = Path(__file__).parent / "fixtures_config"
# Loaded once: hypothesis forbids function-scoped fixtures.
TABLE = OrtsnetzTable.load()

BASE = textwrap.dedent(
    """\
    fallback_center: bund
    centers:
      bremen:
        name: Bürgertelefon Bremen
        state: HB
        queue: 115-bremen
        greeting: lotse/greeting-bremen
        offhours_announcement: lotse/offhours-bremen
        hours: {mon-fri: "08:00-18:00"}
        ortsnetze: ["0421"]
        postal_codes: ["28"]
        overflow_partners: [bund]
        offhours_partners: [bund]
      bund:
        name: Servicecenter des Bundes
        state: BE
        queue: 115-bund
        greeting: lotse/greeting-bund
        offhours_announcement: lotse/offhours-bund
        hours: {mon-fri: "06:00-22:00"}
    """
)


def variant(*replacements: tuple[str, str]) -> str:
    """BASE with each ``(old, new)`` replaced once; ``old`` must occur exactly once."""
    text = BASE
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def at(text: str, needle: str, nth: int = 1) -> str:
    """``t.yaml:LINE:COL`` of the nth occurrence of ``needle`` in ``text``."""
    index = -1
    for _ in range(nth):
        index = text.index(needle, index + 1)
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"t.yaml:{line}:{col}"


def Q(text: str) -> str:
    """``text`` in double quotes, to find a quoted scalar (whose node starts at the quote)."""
    return f'"{text}"'


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config_text(text, "t.yaml", TABLE)
    return [str(p) for p in info.value.problems]


def only_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


# --- the shipped configuration ----------------------------------------------


def test_shipped_config_loads() -> None:
    config = load_config(SHIPPED, table=TABLE)
    assert list(config.centers) == [
        "bremen",
        "wittenberg",
        "halberstadt",
        "paderborn",
        "sachsen-anhalt",
        "bund",
    ]
    assert config.fallback_center == "bund"
    assert config.timezone == "Europe/Berlin"
    assert config.source == str(SHIPPED)
    assert config.unconnected is UnconnectedMode.FALLBACK
    assert config.unknown_origin.mode is UnknownOriginMode.POSTAL_CODE
    assert config.controller.ami == Endpoint("127.0.0.1", 5038)
    assert config.controller.journal_path == "lotse-journal.sqlite"
    assert config.controller.ami_secret_file is None


def test_shipped_config_routes_the_demo_regions() -> None:
    config = load_config(SHIPPED, table=TABLE)
    by_net = config.center_by_ortsnetz
    # Stored without the trunk 0, each a real Ortsnetz of its region.
    assert by_net["421"] == by_net["471"] == "bremen"
    assert by_net["3491"] == by_net["3537"] == by_net["34953"] == "wittenberg"
    assert by_net["3941"] == "halberstadt"
    assert by_net["5251"] == by_net["2951"] == "paderborn"
    assert all(TABLE.get(code) is not None for code in by_net)
    assert config.center_for_postal_code("06886") == "wittenberg"
    assert config.center_for_postal_code("27570") == "bremen"
    assert config.center_for_postal_code("38820") == "halberstadt"
    assert config.center_for_postal_code("33178") == "paderborn"
    assert config.center_for_postal_code("10115") is None
    assert config.overflow_chain["wittenberg"] == ("sachsen-anhalt", "halberstadt", "bund")
    assert config.offhours_chain["halberstadt"] == ("sachsen-anhalt", "bund")
    assert config.offhours_chain["bund"] == ()


def test_shipped_config_hours() -> None:
    centers = load_config(SHIPPED, table=TABLE).centers
    wittenberg = centers["wittenberg"].hours
    assert wittenberg.ranges(0) == (TimeRange(time(8), time(18)),)
    assert wittenberg.ranges(4) == (TimeRange(time(8), time(14)),)  # "fri" overrides the span
    assert wittenberg.ranges(5) == ()
    assert centers["halberstadt"].hours.ranges(2) == (
        TimeRange(time(8), time(12)),
        TimeRange(time(13), time(18)),
    )
    assert centers["bund"].hours.ranges(5) == (TimeRange(time(8), time(20)),)
    assert date(2026, 12, 24) in centers["bremen"].closures


def test_summary_of_shipped_config() -> None:
    config = load_config(SHIPPED, table=TABLE)
    nets = len(config.center_by_ortsnetz)
    assert summary(config) == (
        f"{SHIPPED}: 6 centers, {nets} Ortsnetze, fallback bund, time zone Europe/Berlin"
    )


def test_minimal_config_takes_defaults() -> None:
    config = load_config_text(BASE, "t.yaml", TABLE)
    assert config.max_hops == 3
    assert config.service_level.target == 0.75
    assert config.centers["bremen"].queue_timeout_s == 30
    assert config.centers["bremen"].postal_codes.prefixes == frozenset({"28"})
    assert config.centers["bremen"].ortsnetze == ("421",)
    assert (
        summary(config) == "t.yaml: 2 centers, 1 Ortsnetz, fallback bund, time zone Europe/Berlin"
    )


# --- YAML itself -------------------------------------------------------------


def test_problem_prints_like_a_compiler() -> None:
    assert str(Problem("c.yaml", 3, 7, "bad")) == "c.yaml:3:7: bad"


def test_yaml_syntax_error_has_its_position() -> None:
    text = variant(("    queue: 115-bund\n", "    queue: [115-bund\n"))
    # The flow sequence opened on line 17 runs into the next key's colon.
    assert only_problem(text) == (
        "t.yaml:18:13: YAML syntax error: expected ',' or ']', but got ':' "
        "(while parsing a flow sequence at line 17, column 12)"
    )
    assert at(text, ": lotse/greeting-bund") == "t.yaml:18:13"
    assert at(text, "[115-bund") == "t.yaml:17:12"


def test_tab_indentation_is_a_syntax_error() -> None:
    text = variant(("    state: HB\n", "\tstate: HB\n"))
    found = only_problem(text)
    assert found.startswith(f"{at(text, chr(9))}: YAML syntax error: found character '\\t'")


def test_control_character_refused_at_its_position() -> None:
    text = variant(("name: Bürgertelefon Bremen", "name: Bürger\x07telefon Bremen"))
    assert only_problem(text) == f"{at(text, chr(7))}: character U+0007 is not allowed in YAML"


def test_duplicate_key_reported_at_second() -> None:
    text = variant(("    state: BE\n", "    state: BE\n    queue: 115-x\n"))
    assert only_problem(text) == (
        f"{at(text, 'queue: 115-bund')}: centers.bund.queue: duplicate key (first given at line 17)"
    )


def test_empty_and_non_mapping_documents() -> None:
    assert only_problem("# nothing\n") == (
        "t.yaml:1:1: empty configuration; expected at least the keys "
        "'centers' and 'fallback_center'"
    )
    assert only_problem("- a\n- b\n").startswith("t.yaml:1:1: the configuration must be a mapping")


def test_second_document_refused() -> None:
    assert only_problem(BASE + "---\nfoo: 1\n") == (
        "t.yaml:21:1: YAML syntax error: expected a single document in the stream, "
        "but found another document"
    )


def test_anchors_share_whole_values() -> None:
    text = variant(
        ('hours: {mon-fri: "08:00-18:00"}', 'hours: &office {mon-fri: "08:00-18:00"}'),
        ('hours: {mon-fri: "06:00-22:00"}', "hours: *office"),
    )
    centers = load_config_text(text, "t.yaml", TABLE).centers
    assert centers["bund"].hours == centers["bremen"].hours


def test_merge_keys_refused() -> None:
    text = variant(("    state: BE\n", "    state: BE\n    <<: {x: 1}\n"))
    assert only_problem(text).startswith(f"{at(text, '<<')}: centers.bund: merge keys (<<)")


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("fallback_center: bund\n# Bürger\n".encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path, table=TABLE)
    assert [str(p) for p in info.value.problems] == [f"{path}:2:4: not UTF-8 text"]


# --- keys and types ----------------------------------------------------------


def test_unknown_center_key_with_did_you_mean() -> None:
    text = variant(("    greeting: lotse/greeting-bund", "    greting: lotse/greeting-bund"))
    assert problems(text) == [
        f"{at(text, 'name: Servicecenter')}: centers.bund: missing required key 'greeting'",
        f"{at(text, 'greting')}: centers.bund.greting: unknown key; did you mean 'greeting'?",
    ]


def test_unknown_top_level_key_with_did_you_mean() -> None:
    text = "fallback_centre: bund\n" + BASE
    assert problems(text) == [
        "t.yaml:1:1: fallback_centre: unknown key; did you mean 'fallback_center'?"
    ]


def test_unknown_key_without_close_match_lists_known_keys() -> None:
    text = variant(("fallback_center: bund\n", "fallback_center: bund\nservice_level: {zz: 1}\n"))
    assert only_problem(text) == (
        f"{at(text, 'zz')}: service_level.zz: unknown key; "
        "known keys: short_abandon_s, target, threshold_s"
    )


def test_missing_required_key_at_the_mapping() -> None:
    text = variant(("    queue: 115-bremen\n", ""))
    assert only_problem(text) == "t.yaml:4:5: centers.bremen: missing required key 'queue'"


def test_missing_top_level_keys() -> None:
    text = variant(("fallback_center: bund\n", ""))
    assert only_problem(text) == "t.yaml:1:1: top level: missing required key 'fallback_center'"


def test_number_where_string_expected() -> None:
    text = variant(("queue: 115-bund", "queue: 115"))
    assert only_problem(text) == (
        f"{at(text, '115' + chr(10))}: centers.bund.queue: expected a string, got integer 115; "
        "put it in quotes"
    )


def test_yaml_boolean_where_string_expected() -> None:
    # The "Norway problem": YAML 1.1 reads an unquoted NO as false.
    text = variant(("state: BE", "state: NO"))
    assert only_problem(text) == (
        f"{at(text, 'NO')}: centers.bund.state: expected a string, got boolean NO; put it in quotes"
    )


def test_string_where_integer_expected() -> None:
    text = "max_hops: three\n" + BASE
    assert only_problem(text) == ("t.yaml:1:11: max_hops: expected an integer, got string 'three'")


def test_list_where_mapping_expected() -> None:
    text = variant(('    hours: {mon-fri: "06:00-22:00"}', "    hours: [mon]"))
    assert only_problem(text) == (
        f"{at(text, '[mon]')}: centers.bund.hours: expected a mapping, got a list"
    )


def test_huge_integer_is_a_problem_not_a_crash() -> None:
    text = f"max_hops: {'9' * 5000}\n" + BASE
    assert only_problem(text) == (
        "t.yaml:1:11: max_hops: cannot read integer 9999999999999999999999999999999999999... "
        "as an integer"
    )


# --- centers, partners, cycles -----------------------------------------------


def test_unknown_partner_with_did_you_mean() -> None:
    text = variant(("overflow_partners: [bund]", "overflow_partners: [bnd]"))
    assert only_problem(text) == (
        f"{at(text, 'bnd')}: centers.bremen.overflow_partners[0]: unknown center 'bnd'; "
        "did you mean 'bund'?"
    )


def test_center_naming_itself_as_partner() -> None:
    text = variant(("offhours_partners: [bund]", "offhours_partners: [bund, bremen]"))
    assert only_problem(text) == (
        f"{at(text, 'bremen]')}: centers.bremen.offhours_partners[1]: "
        "a center cannot be its own partner"
    )


def test_partner_listed_twice() -> None:
    text = variant(("overflow_partners: [bund]", "overflow_partners: [bund, bund]"))
    assert only_problem(text) == (
        f"{at(text, 'bund]')}: centers.bremen.overflow_partners[1]: partner 'bund' is listed twice"
    )


def test_two_center_cycle_reported_with_its_path() -> None:
    text = variant(
        (
            'hours: {mon-fri: "06:00-22:00"}',
            'hours: {mon-fri: "06:00-22:00"}\n    overflow_partners: [bremen]',
        )
    )
    assert only_problem(text) == (
        f"{at(text, 'bremen]')}: centers.bund.overflow_partners[0]: partner chain loops: "
        "bremen -> bund -> bremen; a call could bounce back to a center it came from"
    )


def test_cycle_through_overflow_and_offhours_edges() -> None:
    # bremen overflows to halle, halle is off-hours backed by bund, bund overflows to bremen.
    text = textwrap.dedent(
        """\
        fallback_center: bund
        centers:
          bremen:
            name: X
            state: HB
            queue: q-bremen
            greeting: lotse/g
            offhours_announcement: lotse/o
            hours: {mon: "08:00-12:00"}
            overflow_partners: [halle]
          halle:
            name: X
            state: ST
            queue: q-halle
            greeting: lotse/g
            offhours_announcement: lotse/o
            hours: {mon: "08:00-12:00"}
            offhours_partners: [bund]
          bund:
            name: X
            state: BE
            queue: q-bund
            greeting: lotse/g
            offhours_announcement: lotse/o
            hours: {mon: "08:00-12:00"}
            overflow_partners: [bremen]
        """
    )
    assert only_problem(text) == (
        f"{at(text, 'bremen]')}: centers.bund.overflow_partners[0]: partner chain loops: "
        "bremen -> halle -> bund -> bremen; a call could bounce back to a center it came from"
    )


def _network(overflow: dict[str, list[str]], offhours: dict[str, list[str]]) -> str:
    lines = ["fallback_center: c0", "centers:"]
    for cid in overflow:
        lines += [
            f"  {cid}:",
            f"    name: {cid}",
            "    state: BE",
            f"    queue: q-{cid}",
            "    greeting: lotse/g",
            "    offhours_announcement: lotse/o",
            '    hours: {mon: "08:00-12:00"}',
            f"    overflow_partners: {overflow[cid]}",
            f"    offhours_partners: {offhours[cid]}",
        ]
    return "\n".join(lines).replace("'", "") + "\n"


def _has_cycle(edges: dict[str, set[str]]) -> bool:
    # Kahn: a graph is acyclic exactly when repeatedly removing sources empties it.
    indegree = {n: 0 for n in edges}
    for targets in edges.values():
        for t in targets:
            indegree[t] += 1
    ready = [n for n, d in indegree.items() if d == 0]
    removed = 0
    while ready:
        n = ready.pop()
        removed += 1
        for t in edges[n]:
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    return removed < len(edges)


@settings(max_examples=150, deadline=None)
@given(
    st.integers(2, 6).flatmap(
        lambda n: st.tuples(
            st.just(n),
            st.lists(
                st.tuples(st.integers(0, n - 1), st.integers(0, n - 1), st.booleans()), max_size=10
            ),
        )
    )
)
def test_cycle_reported_exactly_when_partner_graph_is_cyclic(
    graph: tuple[int, list[tuple[int, int, bool]]],
) -> None:
    n, raw_edges = graph
    ids = [f"c{i}" for i in range(n)]
    overflow: dict[str, list[str]] = {c: [] for c in ids}
    offhours: dict[str, list[str]] = {c: [] for c in ids}
    edges: dict[str, set[str]] = {c: set() for c in ids}
    for a, b, is_overflow in raw_edges:
        lists = overflow if is_overflow else offhours
        if a != b and ids[b] not in lists[ids[a]]:
            lists[ids[a]].append(ids[b])
            edges[ids[a]].add(ids[b])
    try:
        load_config_text(_network(overflow, offhours), "t.yaml", TABLE)
        cycles: list[list[str]] = []
    except ConfigError as err:
        messages = [p.message for p in err.problems]
        assert all("partner chain loops: " in m for m in messages), messages
        cycles = [m.split("loops: ")[1].split(";")[0].split(" -> ") for m in messages]
    assert bool(cycles) == _has_cycle(edges)
    for cycle in cycles:
        assert cycle[0] == cycle[-1]
        assert all(b in edges[a] for a, b in itertools.pairwise(cycle))


def test_acyclic_diamond_is_fine() -> None:
    # wittenberg -> {sachsen-anhalt, halberstadt}, halberstadt -> sachsen-anhalt: no loop.
    config = load_config(SHIPPED, table=TABLE)
    assert "halberstadt" in config.centers["wittenberg"].overflow_partners
    assert config.centers["halberstadt"].overflow_partners == ("sachsen-anhalt",)


def test_fallback_center_unknown() -> None:
    text = variant(("fallback_center: bund", "fallback_center: bundd"))
    assert only_problem(text) == (
        "t.yaml:1:18: fallback_center: unknown center 'bundd'; did you mean 'bund'?"
    )


def test_invalid_center_id() -> None:
    text = variant(("  bremen:", "  Bremen:"), ("[bund]\n    offhours", "[bund]\n    xoffhours"))
    assert problems(text)[0] == (
        "t.yaml:3:3: centers.Bremen: a center id is lower-case letters, digits, '-' and '_', "
        "e.g. sachsen-anhalt"
    )


def test_queue_used_twice() -> None:
    text = variant(("queue: 115-bund", "queue: 115-bremen"))
    assert only_problem(text) == (
        f"{at(text, '115-bremen', 2)}: centers.bund.queue: queue '115-bremen' already "
        "belongs to center 'bremen'"
    )


def test_unknown_federal_state() -> None:
    text = variant(("state: HB", "state: NRW"))
    assert only_problem(text) == (
        f"{at(text, 'NRW')}: centers.bremen.state: unknown federal state 'NRW'; did you mean 'NW'?"
    )


@pytest.mark.parametrize(
    ("greeting", "message"),
    [
        ('""', "centers.bremen.greeting: must not be empty"),
        ("", "centers.bremen.greeting: expected a string, got nothing (null)"),
        (
            "lotse/greeting-bremen.wav",
            "centers.bremen.greeting: sound 'lotse/greeting-bremen.wav': leave out the file "
            "extension; Asterisk picks the format itself",
        ),
        (
            "/var/lib/asterisk/sounds/x",
            "centers.bremen.greeting: '/var/lib/asterisk/sounds/x' is not a sound name; write a "
            "relative path of letters, digits, '_', '-' and '.', e.g. lotse/greeting-bremen",
        ),
    ],
)
def test_bad_greeting(greeting: str, message: str) -> None:
    text = variant(("greeting: lotse/greeting-bremen", f"greeting: {greeting}"))
    found = only_problem(text)
    assert found.endswith(f": {message}")
    line = at(text, "greeting:").split(":")[1]
    assert found.startswith(f"t.yaml:{line}:")


# --- Ortsnetze ---------------------------------------------------------------


def test_ortsnetz_claimed_twice_names_first_center() -> None:
    text = variant(
        (
            'hours: {mon-fri: "06:00-22:00"}',
            'hours: {mon-fri: "06:00-22:00"}\n    ortsnetze: ["030", "0421"]',
        )
    )
    assert only_problem(text) == (
        f"{at(text, Q('0421'), 2)}: centers.bund.ortsnetze[1]: Ortsnetz 0421 (Bremen) is already "
        "served by center 'bremen'"
    )


def test_ortsnetz_listed_twice_in_one_center() -> None:
    # Unquoted 0421 would be octal 273 to YAML; codes are read as written.
    text = variant(('ortsnetze: ["0421"]', 'ortsnetze: ["0421", 0421]'))
    assert only_problem(text) == (
        f"{at(text, '0421]')}: centers.bremen.ortsnetze[1]: Ortsnetz 0421 is listed twice"
    )


def test_unquoted_ortsnetz_is_read_as_written() -> None:
    text = variant(('ortsnetze: ["0421"]', "ortsnetze: [0421, 0471]"))
    assert load_config_text(text, "t.yaml", TABLE).centers["bremen"].ortsnetze == ("421", "471")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("421", "Ortsnetz '421' lacks its leading 0; write '0421'"),
        ("04x1", "'04x1' is not an Ortsnetz code; write 0 and 2 to 5 digits, e.g. 0421"),
        ("0421000", "'0421000' is not an Ortsnetz code; write 0 and 2 to 5 digits, e.g. 0421"),
        ("0171", "'0171' is not an Ortsnetz code; write 0 and 2 to 5 digits, e.g. 0421"),
        ("034902", "034902 is not a German Ortsnetz (not in the national numbering plan)"),
    ],
)
def test_malformed_or_unknown_ortsnetz(code: str, message: str) -> None:
    text = variant(('ortsnetze: ["0421"]', f'ortsnetze: ["0421", "{code}"]'))
    assert only_problem(text) == (f"{at(text, Q(code))}: centers.bremen.ortsnetze[1]: {message}")


# --- postal codes ------------------------------------------------------------


def _bund_postal(codes: str) -> str:
    return variant(
        (
            'hours: {mon-fri: "06:00-22:00"}',
            f'hours: {{mon-fri: "06:00-22:00"}}\n    postal_codes: {codes}',
        )
    )


def test_identical_prefix_in_two_centers() -> None:
    text = _bund_postal('["28"]')
    assert only_problem(text) == (
        f"{at(text, Q('28'), 2)}: centers.bund.postal_codes[0]: postal prefix 28 is already "
        "served by center 'bremen'"
    )


def test_identical_exact_code_in_two_centers() -> None:
    text = variant(('postal_codes: ["28"]', 'postal_codes: ["28", "10115"]'))
    text = text.replace(
        'hours: {mon-fri: "06:00-22:00"}',
        'hours: {mon-fri: "06:00-22:00"}\n    postal_codes: ["10115"]',
    )
    assert only_problem(text) == (
        f"{at(text, Q('10115'), 2)}: centers.bund.postal_codes[0]: postal code 10115 is already "
        "served by center 'bremen'"
    )


def test_overlapping_ranges_in_two_centers() -> None:
    text = variant(('postal_codes: ["28"]', 'postal_codes: ["27568-27580"]'))
    text = text.replace(
        'hours: {mon-fri: "06:00-22:00"}',
        'hours: {mon-fri: "06:00-22:00"}\n    postal_codes: ["27500-27568"]',
    )
    assert only_problem(text) == (
        f"{at(text, Q('27500-27568'))}: centers.bund.postal_codes[0]: postal range "
        "27500-27568 overlaps 27568-27580 of center 'bremen'"
    )


def test_overlapping_ranges_in_one_center() -> None:
    text = variant(('postal_codes: ["28"]', 'postal_codes: ["28000-28100", "28100-28200"]'))
    assert only_problem(text) == (
        f"{at(text, Q('28100-28200'))}: centers.bremen.postal_codes[1]: postal range 28100-28200 "
        "overlaps 28000-28100 of another range of this center"
    )


def test_carve_outs_are_allowed() -> None:
    # A longer prefix inside a shorter one, a code inside a range, a range inside a prefix.
    text = variant(('postal_codes: ["28"]', 'postal_codes: ["28", "27568-27580"]'))
    text = text.replace(
        'hours: {mon-fri: "06:00-22:00"}',
        'hours: {mon-fri: "06:00-22:00"}\n    postal_codes: ["281", "27570", "28500-28600"]',
    )
    config = load_config_text(text, "t.yaml", TABLE)
    assert config.center_for_postal_code("28195") == "bund"
    assert config.center_for_postal_code("28217") == "bremen"
    assert config.center_for_postal_code("27570") == "bund"
    assert config.center_for_postal_code("27571") == "bremen"
    assert config.center_for_postal_code("28550") == "bund"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (
            "2800x",
            "'2800x' is not a postal code; write 1-4 digits for a prefix (28), "
            "5 digits for one code (38820) or a range (27568-27580)",
        ),
        (
            "123456",
            "'123456' is not a postal code; write 1-4 digits for a prefix (28), "
            "5 digits for one code (38820) or a range (27568-27580)",
        ),
        ("28999-28000", "postal code range '28999-28000' runs backwards"),
    ],
)
def test_malformed_postal_code(code: str, message: str) -> None:
    text = variant(('postal_codes: ["28"]', f'postal_codes: ["28", "{code}"]'))
    assert only_problem(text) == f"{at(text, Q(code))}: centers.bremen.postal_codes[1]: {message}"


def _postal_entry(lo: int, width: int, kind: int) -> str:
    if kind == 0:
        return f"{lo:05d}"[: 1 + width % 4]  # a prefix of 1-4 digits
    if kind == 1:
        return f"{lo:05d}"
    return f"{lo:05d}-{min(lo + width, 99999):05d}"


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 99999), st.integers(0, 300), st.integers(0, 2)),
        min_size=1,
        max_size=12,
    )
)
def test_postal_clashes_match_pairwise_definition(
    specs: list[tuple[int, int, int]],
) -> None:
    entries = [_postal_entry(lo, width, kind) for lo, width, kind in specs]
    half = len(entries) // 2
    text = variant(
        ("postal_codes: [" + chr(34) + "28" + chr(34) + "]", f"postal_codes: {entries[:half]!r}")
    )
    text = text.replace(
        'hours: {mon-fri: "06:00-22:00"}',
        f'hours: {{mon-fri: "06:00-22:00"}}\n    postal_codes: {entries[half:]!r}',
    )
    parsed = [parse_postal(e) for e in entries]
    clashing = {j for j in range(len(parsed)) for i in range(j) if parsed[i].clashes(parsed[j])}
    try:
        load_config_text(text, "t.yaml", TABLE)
        reported: set[int] = set()
    except ConfigError as err:
        reported = {
            int(p.message.split("]")[0].rsplit("[", 1)[1]) + (half if "bund" in p.message else 0)
            for p in err.problems
        }
    # An entry is refused exactly when it clashes with one listed (and kept) before it.
    assert bool(reported) == bool(clashing)
    assert reported <= clashing


# --- hours and closures ------------------------------------------------------


def _bremen_hours(hours: str) -> str:
    return variant(('hours: {mon-fri: "08:00-18:00"}', f"hours: {hours}"))


@pytest.mark.parametrize(
    ("hours", "needle", "message"),
    [
        (
            '{mon-fri: "08:00-25:00"}',
            '"08',
            "centers.bremen.hours.mon-fri: 25:00 is not a time "
            "of day (00:00 to 23:59, or 24:00 as an end)",
        ),
        (
            '{mon-fri: "08:61-18:00"}',
            '"08',
            "centers.bremen.hours.mon-fri: 08:61 is not a time "
            "of day (00:00 to 23:59, or 24:00 as an end)",
        ),
        (
            '{mon-fri: "18:00-08:00"}',
            '"18',
            "centers.bremen.hours.mon-fri: '18:00-08:00' must "
            "end after it starts; a range stays within one day (24:00 is midnight)",
        ),
        (
            '{mon-fri: "08:00-08:00"}',
            '"08',
            "centers.bremen.hours.mon-fri: '08:00-08:00' must "
            "end after it starts; a range stays within one day (24:00 is midnight)",
        ),
        (
            '{mon-fri: "22:00-00:00"}',
            '"22',
            "centers.bremen.hours.mon-fri: a range cannot end at 00:00; write 24:00 for midnight",
        ),
        (
            '{mon-fri: "24:00-24:00"}',
            '"24',
            "centers.bremen.hours.mon-fri: 24:00 can only end a range; a day starts at 00:00",
        ),
        (
            '{mon-fri: "8 to 6"}',
            '"8',
            "centers.bremen.hours.mon-fri: '8 to 6' is not a time "
            "range; write HH:MM-HH:MM, e.g. 08:00-18:00",
        ),
        (
            '{mon-fri: "8h-18:00"}',
            '"8h',
            "centers.bremen.hours.mon-fri: '8h' is not a time; write HH:MM, e.g. 08:00",
        ),
        (
            '{sat: ["08:00-12:00", "11:00-13:00"]}',
            '"11',
            "centers.bremen.hours.sat[1]: 11:00-13:00 overlaps 08:00-12:00",
        ),
        (
            "{sunday: closed}",
            "sunday",
            "centers.bremen.hours.sunday: unknown weekday 'sunday' "
            "(did you mean 'sun'?); write mon..sun or a span like mon-fri",
        ),
        (
            '{fri-mon: "08:00-12:00"}',
            "fri-mon",
            "centers.bremen.hours.fri-mon: 'fri-mon' runs "
            "backwards; write spans from Monday on, e.g. mon-fri",
        ),
        (
            '{mon-thu: "08:00-12:00", thu-fri: "08:00-12:00"}',
            "thu-fri",
            "centers.bremen.hours.thu-fri: thu is already given by 'mon-thu'; spans may not "
            "overlap (a single day may override a span)",
        ),
        (
            "{mon-fri: closed}",
            "{",
            "centers.bremen.hours: no opening hours on any day; the center could never take a call",
        ),
        (
            "{mon-fri: 8}",
            "8",
            "centers.bremen.hours.mon-fri: '8' is not a time range; write "
            "HH:MM-HH:MM, e.g. 08:00-18:00",
        ),
        (
            "{mon-fri: {a: 1}}",
            "{a",
            "centers.bremen.hours.mon-fri: expected HH:MM-HH:MM, a "
            "list of them, or 'closed', got a mapping",
        ),
    ],
)
def test_bad_hours(hours: str, needle: str, message: str) -> None:
    text = _bremen_hours(hours)
    assert only_problem(text) == f"{at(text, needle)}: {message}"


def test_every_overlapping_range_reported() -> None:
    text = _bremen_hours('{sat: ["08:00-18:00", "12:00-13:00", "14:00-15:00"]}')
    assert problems(text) == [
        f"{at(text, Q('12:00-13:00'))}: centers.bremen.hours.sat[1]: 12:00-13:00 overlaps "
        "08:00-18:00",
        f"{at(text, Q('14:00-15:00'))}: centers.bremen.hours.sat[2]: 14:00-15:00 overlaps "
        "08:00-18:00",
    ]


def test_hours_spans_lists_overrides_and_midnight() -> None:
    text = _bremen_hours(
        '{mon-fri: "08:00-18:00", wed: ["13:00-18:00", "08:00-12:00"], fri: closed, '
        'sat: "20:00-24:00"}'
    )
    hours = load_config_text(text, "t.yaml", TABLE).centers["bremen"].hours
    assert hours.ranges(0) == (TimeRange(time(8), time(18)),)
    assert hours.ranges(2) == (TimeRange(time(8), time(12)), TimeRange(time(13), time(18)))
    assert hours.ranges(4) == ()
    assert hours.ranges(5) == (TimeRange(time(20), time(0)),)
    assert hours.is_open(5, time(23, 59))
    assert hours.ranges(6) == ()


def test_single_day_override_order_does_not_matter() -> None:
    first = _bremen_hours('{fri: "08:00-12:00", mon-fri: "08:00-18:00"}')
    hours = load_config_text(first, "t.yaml", TABLE).centers["bremen"].hours
    assert hours.ranges(4) == (TimeRange(time(8), time(12)),)


def test_closures() -> None:
    text = variant(
        (
            "    ortsnetze:",
            "    closures: [2026-12-24, 2026-02-30, 24.12.2026, 2026-12-24]\n    ortsnetze:",
        )
    )
    assert problems(text) == [
        f"{at(text, '2026-02-30')}: centers.bremen.closures[1]: 2026-02-30 is not a valid date",
        f"{at(text, '24.12.2026')}: centers.bremen.closures[2]: '24.12.2026' is not a date; "
        "write YYYY-MM-DD, e.g. 2026-12-24",
        f"{at(text, '2026-12-24', 2)}: centers.bremen.closures[3]: 2026-12-24 is listed twice",
    ]


# --- numbers with limits -----------------------------------------------------


@pytest.mark.parametrize(
    ("setting", "col", "message"),
    [
        ("max_hops: 0", 11, "max_hops: must be at least 1, got 0"),
        (
            "service_level: {target: 0}",
            25,
            "service_level.target: must be a share above 0 and at most 1 (0.75 = 75 %), got 0",
        ),
        (
            "service_level: {target: 1.5}",
            25,
            "service_level.target: must be a share above 0 and at most 1 (0.75 = 75 %), got 1.5",
        ),
        (
            "service_level: {target: .nan}",
            25,
            "service_level.target: must be a finite number, got .nan",
        ),
        (
            "service_level: {threshold_s: -30}",
            30,
            "service_level.threshold_s: must be at least 1, got -30",
        ),
        ("unknown_origin: {attempts: 0}", 28, "unknown_origin.attempts: must be at least 1, got 0"),
        (
            "unknown_origin: {mode: postcode}",
            24,
            "unknown_origin.mode: unknown value 'postcode'; did you mean 'postal_code'?",
        ),
        (
            "unconnected: announce",
            14,
            "unconnected: unknown value 'announce'; did you mean 'announcement'?",
        ),
        (
            "controller: {agi_deadline_ms: 0}",
            31,
            "controller.agi_deadline_ms: must be at least 1, got 0",
        ),
        (
            "controller: {journal_salt_env: LOTSE-SALT}",
            32,
            "controller.journal_salt_env: 'LOTSE-SALT' is not an environment variable name",
        ),
        (
            "controller: {journal_key_env: LOTSE-KEY}",
            31,
            "controller.journal_key_env: 'LOTSE-KEY' is not an environment variable name",
        ),
    ],
)
def test_global_limits(setting: str, col: int, message: str) -> None:
    assert only_problem(setting + "\n" + BASE) == f"t.yaml:1:{col}: {message}"


def test_global_settings_are_read() -> None:
    text = (
        "unconnected: announcement\nunknown_origin: {mode: fallback, attempts: 3}\n"
        "controller: {ami_secret_env: null, ami_secret_file: /etc/lotse/ami-secret, "
        "agi_listen: '[::1]:4573'}\n" + BASE
    )
    config = load_config_text(text, "t.yaml", TABLE)
    assert config.unconnected is UnconnectedMode.ANNOUNCEMENT
    assert config.unknown_origin.mode is UnknownOriginMode.FALLBACK
    assert config.unknown_origin.attempts == 3
    assert config.controller.ami_secret_file == "/etc/lotse/ami-secret"
    assert config.controller.agi_listen == Endpoint("::1", 4573)


def test_target_of_one_is_allowed() -> None:
    config = load_config_text("service_level: {target: 1}\n" + BASE, "t.yaml", TABLE)
    assert config.service_level.target == 1.0


@pytest.mark.parametrize(
    ("thresholds", "needle", "message"),
    [
        ("{max_waiting: 0}", "0", "max_waiting: must be at least 1, got 0"),
        ("{max_expected_wait_s: -5}", "-5", "max_expected_wait_s: must be above 0, got -5"),
        ("{no_agents: maybe}", "maybe", "no_agents: expected true or false, got string 'maybe'"),
    ],
)
def test_bad_thresholds(thresholds: str, needle: str, message: str) -> None:
    text = variant(("    ortsnetze:", f"    thresholds: {thresholds}\n    ortsnetze:"))
    assert only_problem(text) == (f"{at(text, needle + '}')}: centers.bremen.thresholds.{message}")


def test_null_disables_a_threshold() -> None:
    text = variant(
        (
            "    ortsnetze:",
            "    thresholds: {max_waiting: null, max_expected_wait_s: ~}"
            "\n    queue_timeout_s: 20\n    ortsnetze:",
        )
    )
    center = load_config_text(text, "t.yaml", TABLE).centers["bremen"]
    assert center.thresholds.max_waiting is None
    assert center.thresholds.max_expected_wait_s is None
    assert center.queue_timeout_s == 20


def test_queue_timeout_must_be_positive() -> None:
    text = variant(("    ortsnetze:", "    queue_timeout_s: 0\n    ortsnetze:"))
    assert only_problem(text) == (
        f"{at(text, '0' + chr(10) + '    ortsnetze')}: centers.bremen.queue_timeout_s: "
        "must be at least 1, got 0"
    )


def test_several_missing_keys_in_one_problem() -> None:
    text = variant(("    name: Servicecenter des Bundes\n", ""), ("    state: BE\n", ""))
    assert only_problem(text) == (
        f"{at(text, 'queue: 115-bund')}: centers.bund: missing required keys 'name', 'state'"
    )


def test_center_that_is_not_a_mapping() -> None:
    text = BASE[: BASE.index("  bund:")] + "  bund: null\n"
    assert only_problem(text) == "t.yaml:14:9: centers.bund: expected a mapping, got nothing (null)"


def test_same_day_given_twice() -> None:
    text = _bremen_hours('{mon: "08:00-12:00", mon-mon: "08:00-12:00"}')
    assert only_problem(text) == (
        f"{at(text, 'mon-mon')}: centers.bremen.hours.mon-mon: mon is already given by 'mon'"
    )


# --- time zone, controller ---------------------------------------------------


def test_bad_timezone_with_did_you_mean() -> None:
    assert only_problem("timezone: Europe/Berln\n" + BASE) == (
        "t.yaml:1:11: timezone: unknown time zone 'Europe/Berln'; did you mean 'Europe/Berlin'?"
    )


def test_bad_host_port_at_its_value() -> None:
    text = "controller:\n  ami: 127.0.0.1:70000\n  metrics_listen: localhost\n" + BASE
    assert problems(text) == [
        "t.yaml:2:8: controller.ami: '127.0.0.1:70000': port 70000 is out of range (1-65535)",
        "t.yaml:3:19: controller.metrics_listen: 'localhost' is not host:port, e.g. 127.0.0.1:5038",
    ]


def test_controller_needs_a_secret_source() -> None:
    text = "controller:\n  ami_secret_env: null\n" + BASE
    assert only_problem(text) == (
        "t.yaml:2:19: controller: no AMI secret: name ami_secret_env or ami_secret_file"
    )


@pytest.mark.parametrize(
    ("text", "endpoint"),
    [
        ("127.0.0.1:5038", Endpoint("127.0.0.1", 5038)),
        ("localhost:4573", Endpoint("localhost", 4573)),
        ("asterisk.example.org:5038", Endpoint("asterisk.example.org", 5038)),
        ("[::1]:9115", Endpoint("::1", 9115)),
    ],
)
def test_endpoints(text: str, endpoint: Endpoint) -> None:
    assert parse_endpoint(text) == endpoint


@pytest.mark.parametrize(
    "text",
    [
        "5038",
        ":5038",
        "host:",
        "host:0",
        "host:x",
        "999.1.1.1:80",
        "::1:80",
        "[::g]:80",
        "bad_host:80",
        "a b:80",
    ],
)
def test_bad_endpoints(text: str) -> None:
    with pytest.raises(ValueError):
        parse_endpoint(text)


# --- everything at once ------------------------------------------------------


def test_every_problem_reported_in_file_order() -> None:
    text = variant(
        ("fallback_center: bund", "fallback_center: bnd"),
        ("state: HB", "state: XX"),
        ('hours: {mon-fri: "08:00-18:00"}', 'hours: {mon-fri: "08:00-18:99"}'),
        ('ortsnetze: ["0421"]', 'ortsnetze: ["421"]'),
        ("overflow_partners: [bund]", "overflow_partners: [bremen]"),
        ("queue: 115-bund", "queue: 115-bund\n    queu: x"),
    )
    found = problems(text)
    assert [p.split(": ", 2)[1] for p in found] == [
        "fallback_center",
        "centers.bremen.state",
        "centers.bremen.hours.mon-fri",
        "centers.bremen.ortsnetze[0]",
        "centers.bremen.overflow_partners[0]",
        "centers.bund.queu",
    ]
    lines = [int(p.split(":")[1]) for p in found]
    assert lines == sorted(lines)


def test_fixture_file_end_to_end(capsys: pytest.CaptureFixture[str]) -> None:
    path = FIXTURES / "bad.yaml"
    assert check_main(path) == 2
    out, err = capsys.readouterr()
    assert out == ""
    expected = (FIXTURES / "bad.expected").read_text(encoding="utf-8")
    assert err == expected.replace("FILE", str(path))


def test_check_main_on_shipped_config(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_main(SHIPPED) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"{SHIPPED}: 6 centers, ") and err == ""


def test_check_main_on_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    assert check_main(missing) == 2
    assert capsys.readouterr().err == (
        f"{missing}: cannot read configuration: No such file or directory\n"
    )


# --- garbage never crashes ---------------------------------------------------

YAMLISH = st.text(
    alphabet=st.sampled_from(list("abcdefmnostu0123456789:-,[]{}\"'!&*#|>%@`~ \n\t.?<=")),
    max_size=200,
)
SHIPPED_TEXT = SHIPPED.read_text(encoding="utf-8")


def _load_or_refuse(text: str) -> None:
    try:
        load_config_text(text, "g.yaml", TABLE)
    except ConfigError as err:
        assert err.problems
        assert all(p.line >= 1 and p.col >= 1 for p in err.problems)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(YAMLISH)
def test_yamlish_text_only_ever_raises_config_error(text: str) -> None:
    _load_or_refuse(text)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_any_text_only_ever_raises_config_error(text: str) -> None:
    _load_or_refuse(text)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=len(BASE)),
            st.integers(min_value=0, max_value=8),
            st.text(alphabet=st.sampled_from(list("0-:[]{}\"' \nx~&*")), max_size=4),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_mutated_config_only_ever_raises_config_error(
    edits: list[tuple[int, int, str]],
) -> None:
    text = BASE
    for pos, cut, insert in edits:
        pos = min(pos, len(text))
        text = text[:pos] + insert + text[pos + cut :]
    _load_or_refuse(text)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=len(SHIPPED_TEXT) - 1), st.integers(1, 40))
def test_cut_shipped_config_only_ever_raises_config_error(pos: int, cut: int) -> None:
    _load_or_refuse(SHIPPED_TEXT[:pos] + SHIPPED_TEXT[pos + cut :])


def test_queue_log_path_defaults_to_asterisks_and_null_turns_it_off() -> None:
    assert load_config_text(BASE, "t.yaml", TABLE).controller.queue_log == (
        "/var/log/asterisk/queue_log"
    )
    off = load_config_text("controller: {queue_log: null}\n" + BASE, "t.yaml", TABLE)
    assert off.controller.queue_log is None
    mine = load_config_text("controller: {queue_log: /srv/ql}\n" + BASE, "t.yaml", TABLE)
    assert mine.controller.queue_log == "/srv/ql"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("42", "controller.queue_log: expected a string, got integer 42; put it in quotes"),
        ("''", "controller.queue_log: must not be empty"),
        ("[a]", "controller.queue_log: expected a string, got a list"),
    ],
)
def test_bad_queue_log_path_at_its_value(value: str, message: str) -> None:
    text = f"controller:\n  queue_log: {value}\n" + BASE
    assert only_problem(text) == f"t.yaml:2:14: {message}"


# --- callback_dial ---------------------------------------------------------------


def test_callback_dial_defaults_to_the_pjsip_trunk() -> None:
    config = load_config_text(BASE, "t.yaml", TABLE)
    assert config.callback_dial == "PJSIP/${CB_DIAL}@lotse-callback-trunk"


@pytest.mark.parametrize(
    "dial",
    [
        "PJSIP/${CB_DIAL}@lotse-callback-trunk",
        "Local/${CB_DIAL}@callees",
        "SIP/carrier/0049${CB_DIAL:1}",
        "PJSIP/+49${CB_DIAL:1}@carrier",
        "DAHDI/g1/${CB_DIAL}",
    ],
)
def test_callback_dial_takes_a_dial_target_with_the_number(dial: str) -> None:
    config = load_config_text(f'callback_dial: "{dial}"\n' + BASE, "t.yaml", TABLE)
    assert config.callback_dial == dial


@pytest.mark.parametrize(
    "dial",
    [
        "PJSIP/lotse-callback-trunk",  # no number
        "PJSIP/${CB_DIAL}@${CB_DIAL}",  # twice
        "PJSIP/${CB_DIAL:x}@trunk",
        "${CB_DIAL}@trunk",  # no technology
        "PJSIP/${CB_DIAL}@trunk,30",  # a second Dial() argument
        "PJSIP/${CB_DIAL}&PJSIP/other",  # a second target
        "PJSIP/${CB_NUM}@trunk",  # another variable
        "PJSIP/${CB_DIAL}@a trunk",
        "PJSIP/${CB_DIAL})",
    ],
)
def test_callback_dial_refuses_what_is_no_single_dial_target(dial: str) -> None:
    text = f'callback_dial: "{dial}"\n' + BASE
    problem = only_problem(text)
    assert problem.startswith(at(text, Q(dial)) + ": callback_dial: ")
    assert "${CB_DIAL}" in problem
