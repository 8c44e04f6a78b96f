"""The dialplan interpreter: parsing, patterns, substitution, expressions, applications."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialplans.engine import (
    DialArgs,
    DialplanFileError,
    DialplanRunError,
    Flow,
    Interpreter,
    QueueArgs,
    QueueLogEntry,
    ReadArgs,
    Step,
    load_dialplan,
    parse_text,
)
from dialplans.engine.args import split_args
from dialplans.engine.expr import ExprError, evaluate
from dialplans.engine.interp import Execution, Result
from dialplans.engine.pattern import compile_pattern
from dialplans.engine.subst import SubstitutionError, substitute, substring
from dialplans.engine.timing import TimingError, parse_timing

BERLIN = ZoneInfo("Europe/Berlin")


@dataclass
class Chan:
    name: str = "PJSIP/t-1"
    uniqueid: str = "1.1"
    caller_num: str = "04211234567"
    caller_name: str = ""


@dataclass
class Vars:
    values: dict[str, tuple[str, str]] = field(default_factory=dict)

    def get_var(self, name: str) -> str | None:
        got = self.values.get(name.lstrip("_"))
        return None if got is None else got[1]

    def set_var(self, name: str, value: str) -> None:
        self.values[name.lstrip("_")] = (name, value)


@dataclass
class World:
    """A scripted outside world that records what ran."""

    at: float = datetime(2026, 11, 23, 10, 0, tzinfo=BERLIN).timestamp()
    steps: list[Step] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    queue_status: str | None = None  # None: answered
    agi_vars: list[tuple[str, str]] = field(default_factory=list)
    members: dict[str, str] = field(default_factory=dict)
    dial_status: str = "ANSWER"

    def now(self) -> float:
        return self.at

    def interrupted(self, ex: Execution) -> Result | None:
        return None

    def executing(self, ex: Execution, step: Step) -> None:
        self.steps.append(step)

    def queue_member(self, queue: str, option: str) -> str | None:
        return self.members.get(queue)

    async def answer(self, ex: Execution) -> Result:
        self.log.append("answer")
        return Flow.CONTINUE

    async def playback(self, ex: Execution, sounds: tuple[str, ...], options: str) -> Result:
        self.log.append("play " + "&".join(sounds))
        return Flow.CONTINUE

    async def queue(self, ex: Execution, args: QueueArgs) -> Result:
        self.log.append(f"queue {args.queue} {args.timeout_s}")
        if self.queue_status is None:
            return Flow.HANGUP
        ex.set("QUEUESTATUS", self.queue_status)
        return Flow.CONTINUE

    async def agi(self, ex: Execution, url: str, args: tuple[str, ...]) -> Result:
        self.log.append(f"agi {url} {list(args)}")
        for name, value in self.agi_vars:
            ex.set(name, value)
        ex.set("AGISTATUS", "SUCCESS" if self.agi_vars else "FAILURE")
        return Flow.CONTINUE

    async def read(self, ex: Execution, args: ReadArgs) -> Result:
        self.log.append(f"read {args.variable} {args.max_digits} {args.attempts}")
        ex.set(args.variable, "28195")
        return Flow.CONTINUE

    async def wait(self, ex: Execution, seconds: float) -> Result:
        self.log.append(f"wait {seconds:g}")
        return Flow.CONTINUE

    def user_event(self, ex: Execution, name: str, body: tuple[tuple[str, str], ...]) -> None:
        self.log.append(f"event {name} {list(body)}")

    def queue_log(self, ex: Execution, line: QueueLogEntry) -> None:
        self.log.append(
            f"queue_log {line.queue}|{line.uniqueid}|{line.agent}|{line.event}|{line.info}"
        )

    async def dial(self, ex: Execution, args: DialArgs) -> Result:
        self.log.append(f"dial {'&'.join(args.targets)} {args.timeout_s} {args.options}")
        ex.set("DIALSTATUS", self.dial_status)
        return (
            Flow.HANGUP if self.dial_status == "ANSWER" and not args.option("g") else Flow.CONTINUE
        )

    async def indicate(self, ex: Execution, what: str, wait_s: float | None) -> Result:
        self.log.append(f"indicate {what} {wait_s}")
        return Flow.CONTINUE if what == "ringing" else Flow.HANGUP


def run(
    text: str, exten: str = "s", world: World | None = None, context: str = "t"
) -> tuple[World, Vars, str]:
    world = world or World()
    plan = parse_text(text, "t.conf")
    interp = Interpreter(plan, zone="Europe/Berlin")
    variables = Vars()
    ex = interp.execution(Chan(), variables, world)
    ended = asyncio.run(interp.run(ex, context, exten))
    return world, variables, ended


# -- parsing --------------------------------------------------------------------


def test_priorities_n_labels_and_same() -> None:
    plan = parse_text(
        "[t]\nexten => s,1,NoOp(a)\n same => n(two),NoOp(b)\n same => n,NoOp(c)\n"
        "exten => x,5,NoOp(d)\n same => n(six),NoOp(e)\n",
        "t.conf",
    )
    s = plan.contexts["t"].extensions["s"]
    assert sorted(s.priorities) == [1, 2, 3] and s.labels == {"two": 2}
    x = plan.contexts["t"].extensions["x"]
    assert sorted(x.priorities) == [5, 6] and x.labels == {"six": 6}
    assert x.priorities[6].where.line == 6 and str(x.priorities[6].where) == "t.conf:6"


def test_comments_and_escaped_semicolon() -> None:
    plan = parse_text(
        "[t] ; ctx\n;-- block\nexten => s,1,NoOp(x)\n--;\nexten => s,1,NoOp(a\\;b) ; c\n"
    )
    assert plan.contexts["t"].extensions["s"].priorities[1].data == "a;b"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[t]\nexten => s,1,NoOp()\nexten => s,1,NoOp()\n",
            "t.conf:3: extension s priority 1 already defined at t.conf:2",
        ),
        ("[t]\n same => n,NoOp()\n", "t.conf:2: 'same =>' without"),
        ("exten => s,1,NoOp()\n", "t.conf:1: exten outside a [context]"),
        ("[t]\nexten => s,n,NoOp()\n", "t.conf:2: priority 'n' before"),
        ("[t]\nexten => s,x,NoOp()\n", "t.conf:2: priority 'x'"),
        ("[t]\nswitch => DUNDi/x\n", "t.conf:2: unsupported keyword 'switch'"),
        ("[t]\n#exec foo\n", "t.conf:2: unsupported directive"),
        ("[t]\nexten => _0[12,1,NoOp()\n", "t.conf:2: pattern"),
        (
            "[t]\nexten => s,1,NoOp()\n same => n(a),NoOp()\n same => n(a),NoOp()\n",
            "t.conf:4: label 'a'",
        ),
    ],
)
def test_file_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(DialplanFileError) as err:
        parse_text(text, "t.conf")
    assert str(err.value).startswith(message)


def test_include_is_relative_and_missing_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.conf").write_text("exten => y,1,NoOp(included)\n")
    (tmp_path / "extensions.conf").write_text(
        "[t]\nexten => s,1,Goto(y,1)\n#include sub/more.conf\n"
    )
    plan = load_dialplan(tmp_path)
    assert "y" in plan.contexts["t"].extensions
    (tmp_path / "extensions.conf").write_text("[t]\n#include nope.conf\n")
    with pytest.raises(
        DialplanFileError, match=r"extensions.conf:2: #include nope.conf: no such file"
    ):
        load_dialplan(tmp_path)


# -- patterns -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "exten", "hit"),
    [
        ("_X.", "1", False),  # '.' needs at least one more character
        ("_X.", "12", True),
        ("_X!", "1", True),
        ("_0NX115", "0421115", False),
        ("_0NXX115", "0421115", True),
        ("_0NXX115", "0121115", False),  # N is 2-9
        ("_0NXX115", "0221115", True),
        ("_Z", "0", False),
        ("_Z", "1", True),
        ("_[1-3a]X", "a5", True),
        ("_[1-3a]X", "45", False),
        ("_nxx", "200", True),  # pattern letters are case-insensitive
        ("home-bremen", "homebremen", True),  # '-' is ignored in literal names
        ("115", "1150", False),
    ],
)
def test_pattern_matching(pattern: str, exten: str, hit: bool) -> None:
    assert compile_pattern(pattern).matches(exten) is hit


def test_literal_beats_pattern_and_specific_beats_general() -> None:
    plan = parse_text(
        "[t]\nexten => _X.,1,NoOp(any)\nexten => _04XX,1,NoOp(04)\nexten => 0421,1,NoOp(lit)\n"
        "exten => _0NXX,1,NoOp(0N)\n"
    )
    assert plan.find("t", "0421") is not None and plan.find("t", "0421").name == "0421"  # type: ignore[union-attr]
    assert plan.find("t", "0431").name == "_04XX"  # type: ignore[union-attr]
    assert plan.find("t", "0531").name == "_0NXX"  # type: ignore[union-attr]
    assert plan.find("t", "99999").name == "_X."  # type: ignore[union-attr]


def test_include_is_searched_after_own_extensions() -> None:
    plan = parse_text(
        "[t]\ninclude => u\nexten => _X.,1,NoOp(own)\n"
        "[u]\nexten => 12,1,NoOp(u)\nexten => a,1,NoOp(u)\n"
    )
    assert plan.find("t", "12").name == "_X."  # type: ignore[union-attr]
    assert plan.find("t", "a").name == "a"  # type: ignore[union-attr]


# -- substitution and expressions ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "offset", "length", "expected"),
    [
        ("0421115", 1, -3, "421"),
        ("0421115", -3, None, "115"),
        ("+4942112", 3, None, "42112"),
        ("04211234567", 1, 5, "42112"),
        ("abc", 5, None, ""),
        ("abc", 1, -5, ""),
        ("abc", -10, 2, "ab"),
    ],
)
def test_substring(value: str, offset: int, length: int | None, expected: str) -> None:
    assert substring(value, offset, length) == expected


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ('"SUCCESS" != "SUCCESS"', "0"),
        ('"" = ""', "1"),
        ("2 > 10", "0"),  # numbers compare as numbers
        ('"2" > "10"', "0"),
        ("abc < abd", "1"),  # other text as text
        ("6 + 1", "7"),
        ("3 >= 3", "1"),
        ("3 > 3", "0"),
        ("01 < 1", "0"),
        ("0 < 1", "1"),
        ("1 | 0", "1"),
        ("0 | 0", "0"),
        ('"" | x', "x"),
        ("1 & 0", "0"),
        ("2 & 3", "2"),
        ('"a" = "a" & 5 = 5', "1"),
        ("1 = 1 | 2 = 3 & 0", "1"),
        ("!0", "1"),
        ("-3 + 1", "-2"),
        ("7 % 3", "1"),
        ("(1 + 2) * 3", "9"),
        ("1 ? a :: b", "a"),
        ("0 ? a :: b", "b"),
        ("abc : a.", "2"),
        ("abc =~ c", "1"),
        ("", ""),
    ],
)
def test_expressions(expr: str, value: str) -> None:
    assert evaluate(expr) == value


@pytest.mark.parametrize("expr", ["1 +", "a + 1", '"open', "(1", "1 / 0"])
def test_bad_expressions_are_errors(expr: str) -> None:
    with pytest.raises(ExprError):
        evaluate(expr)


@pytest.mark.parametrize(
    "written",
    ['"${NUM}" = ""', "${NUM} + 1", "-${NUM}", "1 ${NUM}", "${NUM} : (", "${NUM} = ("],
)
def test_expression_errors_name_the_expression_as_written_not_the_caller(written: str) -> None:
    number = '0421123"4567 x'
    values = {"NUM": number}
    with pytest.raises(SubstitutionError) as err:
        substitute(f"$[{written}]", values.get, lambda name, data: "")
    assert str(err.value).startswith(f"$[{written}]: ")
    assert "0421123" not in str(err.value)


@given(st.integers(-(10**6), 10**6), st.integers(-(10**6), 10**6))
def test_integer_comparison_matches_python(a: int, b: int) -> None:
    assert evaluate(f"{a} < {b}") == ("1" if a < b else "0")
    assert evaluate(f"{a} >= {b}") == ("1" if a >= b else "0")
    assert evaluate(f"{a} + {b}") == str(a + b)


def test_set_substitutes_variables_functions_and_expressions() -> None:
    _, v, _ = run(
        "[t]\nexten => s,1,Set(A=04211234567)\n"
        " same => n,Set(__B=${A:1:3})\n"
        " same => n,Set(C=$[${LEN(${A})} + 1])\n"
        " same => n,Set(D=${IF($[${C} > 11]?big:small)})\n"
        " same => n,Set(E=${FILTER(0-9+,+49 (421) 12)})\n"
        " same => n,Set(L=x+y+z)\n"
        " same => n,Set(F=${CUT(L,+,2-)}/${CUT(L,+,1)}/${FIELDNUM(L,+,z)}/${FIELDNUM(L,+,q)})\n"
        " same => n,Set(G=${STRFTIME(1795424400,Europe/Berlin,%Y%m%d %H:%M)})\n"
        " same => n,Set(H=${CALLERID(num):0:4}${EXTEN}${UNIQUEID})\n"
        " same => n,Set(CALLERID(num)=999)\n"
        " same => n,Set(I=${CALLERID(num)}${UNSET}end)\n"
    )
    assert v.values["B"] == ("__B", "421")
    assert v.get_var("C") == "12" and v.get_var("D") == "big"
    assert v.get_var("E") == "+4942112"
    assert v.get_var("F") == "y+z/x/3/0"
    assert v.get_var("G") == "20261123 10:00"
    assert v.get_var("H") == "0421s1.1"
    assert v.get_var("I") == "999end"


def test_dialplan_exists_by_number_and_label() -> None:
    _, v, _ = run(
        "[t]\nexten => s,1,Set(A=${DIALPLAN_EXISTS(d,421,1)}${DIALPLAN_EXISTS(d,421,2)}"
        "${DIALPLAN_EXISTS(d,421,lbl)}${DIALPLAN_EXISTS(d,422,1)}${DIALPLAN_EXISTS(nope,421,1)})\n"
        "[d]\nexten => 421,1,NoOp()\n same => n(lbl),NoOp()\n"
    )
    assert v.get_var("A") == "11100"


def test_queue_member_asks_the_world_and_a_missing_queue_is_empty() -> None:
    world = World(members={"q1": "2"})
    _, v, _ = run(
        "[t]\nexten => s,1,Set(A=0${QUEUE_MEMBER(q1,logged)}/0${QUEUE_MEMBER(q2,logged)})\n",
        world=world,
    )
    assert v.get_var("A") == "02/0"


# -- control flow ---------------------------------------------------------------------


def test_goto_gotoif_with_empty_branches_and_labels() -> None:
    world, v, ended = run(
        "[t]\nexten => s,1,GotoIf($[1 = 1]?yes)\n"
        " same => n,Set(X=skipped)\n"
        " same => n(yes),GotoIf(0?nowhere)\n"  # false, no false branch: next priority
        " same => n,GotoIf(1?:nowhere)\n"  # true, empty true branch: next priority
        " same => n,GotoIf(0?nowhere:other,1)\n"
        "exten => other,1,Goto(u,x,lbl)\n"
        "[u]\nexten => x,1,Set(X=wrong)\n same => n(lbl),Set(Y=${CONTEXT},${EXTEN},${PRIORITY})\n"
    )
    assert v.get_var("X") is None and v.get_var("Y") == "u,x,2"
    assert ended == "fell off u,x,3"
    assert [s.app for s in world.steps] == ["GotoIf", "GotoIf", "GotoIf", "GotoIf", "Goto", "Set"]
    assert world.steps[0].data == "1?yes"  # data as substituted (Newexten's AppData)


def test_execif_runs_the_chosen_application() -> None:
    _world, v, _ = run(
        "[t]\nexten => s,1,ExecIf($[1]?Set(A=yes(1)):Set(A=no))\n"
        " same => n,ExecIf(0?Set(B=yes):Set(B=no))\n"
        " same => n,ExecIf(0?Set(C=yes))\n"
        " same => n,ExecIf(1?Hangup())\n"
        " same => n,Set(D=after)\n"
    )
    assert (v.get_var("A"), v.get_var("B"), v.get_var("C"), v.get_var("D")) == (
        "yes(1)",
        "no",
        None,
        None,
    )


def test_hangup_ends_and_falling_off_the_end_ends() -> None:
    _, v, ended = run("[t]\nexten => s,1,Hangup()\n same => n,Set(A=1)\n")
    assert ended == "hangup" and v.get_var("A") is None


def test_outside_applications_get_parsed_arguments() -> None:
    world = World(queue_status="TIMEOUT", agi_vars=[("R", "queue")])
    _, v, _ = run(
        "[t]\nexten => s,1,Answer()\n"
        " same => n,Playback(a&b)\n"
        " same => n,AGI(agi://127.0.0.1:1/route,115,,x,${UNIQUEID})\n"
        " same => n,Queue(q1,,,,30)\n"
        " same => n,Set(S=${QUEUESTATUS})\n"
        " same => n,Read(P,lotse/prompt,5,,2,5)\n"
        " same => n,UserEvent(LotseFallback,Center:bremen,Reason:agi-failure)\n"
        " same => n,Wait(1.5)\n"
        " same => n,Queue(q2)\n",
        world=world,
    )
    assert world.log == [
        "answer",
        "play a&b",
        "agi agi://127.0.0.1:1/route ['115', '', 'x', '1.1']",
        "queue q1 30",
        "read P 5 2",
        "event LotseFallback [('Center', 'bremen'), ('Reason', 'agi-failure')]",
        "wait 1.5",
        "queue q2 None",
    ]
    assert v.get_var("S") == "TIMEOUT" and v.get_var("R") == "queue" and v.get_var("P") == "28195"


def test_unknown_application_is_an_error_with_file_and_line() -> None:
    with pytest.raises(DialplanRunError) as err:
        run("[t]\nexten => s,1,NoOp()\n same => n,MixMonitor(x.wav)\n")
    assert str(err.value) == "t.conf:3: unknown application MixMonitor()"


def test_unknown_function_is_an_error_with_file_and_line() -> None:
    with pytest.raises(DialplanRunError, match=r"^t.conf:2: unknown dialplan function SHELL\(\)"):
        run("[t]\nexten => s,1,Set(A=${SHELL(ls)})\n")


def test_goto_to_a_missing_label_is_an_error_with_file_and_line() -> None:
    with pytest.raises(DialplanRunError, match=r"^t.conf:3: no priority or label 'nope' in t,s"):
        run("[t]\nexten => s,1,NoOp()\n same => n,Goto(nope)\n")


def test_a_loop_is_stopped() -> None:
    with pytest.raises(DialplanRunError, match="a loop"):
        run("[t]\nexten => s,1,Goto(1)\n")


# -- GotoIfTime ---------------------------------------------------------------------------

OPEN = (
    "[t]\nexten => s,1,GotoIfTime(08:00-17:59,mon-fri,*,*,Europe/Berlin?open:closed)\n"
    " same => n(open),Set(R=open)\n same => n,Hangup()\n same => n(closed),Set(R=closed)\n"
)


def at_(text: str) -> World:
    return World(at=datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp())


@pytest.mark.parametrize(
    ("moment", "result"),
    [
        ("2026-11-23T07:59:59", "closed"),
        ("2026-11-23T08:00:00", "open"),  # the opening minute
        ("2026-11-23T17:59:59", "open"),  # the end minute is included
        ("2026-11-23T18:00:00", "closed"),
        ("2026-11-27T12:00:00", "open"),  # Friday
        ("2026-11-28T12:00:00", "closed"),  # Saturday
        ("2026-03-30T08:00:00", "open"),  # Monday after the switch to summer time: local time
    ],
)
def test_gotoiftime_boundaries(moment: str, result: str) -> None:
    _, v, _ = run(OPEN, world=at_(moment))
    assert v.get_var("R") == result


@pytest.mark.parametrize(
    ("testtime", "result"),
    [
        (str(int(datetime(2026, 11, 28, 12, 0, tzinfo=BERLIN).timestamp())), "closed"),
        (f"{int(datetime(2026, 11, 28, 12, 0, tzinfo=BERLIN).timestamp())}.75", "closed"),
        ("soon", "open"),  # unparseable: the current time
    ],
)
def test_gotoiftime_honours_testtime(testtime: str, result: str) -> None:
    text = OPEN.replace("exten => s,1,", f"exten => s,1,Set(TESTTIME={testtime})\n same => n,")
    _, v, _ = run(text, world=at_("2026-11-23T10:00:00"))
    assert v.get_var("R") == result


@pytest.mark.parametrize(
    ("spec", "moment", "inside"),
    [
        ("22:00-01:59,*,*,*", "2026-11-23T23:30:00", True),  # wraps past midnight
        ("22:00-01:59,*,*,*", "2026-11-23T01:59:00", True),
        ("22:00-01:59,*,*,*", "2026-11-23T02:00:00", False),
        ("*,sat-mon,*,*", "2026-11-29T12:00:00", True),  # Sunday, a wrapping day range
        ("*,sat-mon,*,*", "2026-11-25T12:00:00", False),
        ("08:00-11:59&13:00-17:59,wed,*,*", "2026-11-25T12:30:00", False),
        ("08:00-11:59&13:00-17:59,wed,*,*", "2026-11-25T13:00:00", True),
        ("*,*,24-26,dec", "2026-12-24T12:00:00", True),
        ("*,*,24-26,dec", "2026-11-24T12:00:00", False),
        ("10:00-10:00,*,*,*", "2026-11-24T10:00:59", True),
        ("10:00-10:00,*,*,*", "2026-11-24T10:01:00", False),
        ("09:00-09:59,*,*,*,UTC", "2026-11-24T10:30:00", True),  # 09:30 UTC
    ],
)
def test_time_specifications(spec: str, moment: str, inside: bool) -> None:
    epoch = datetime.fromisoformat(moment).replace(tzinfo=BERLIN).timestamp()
    assert parse_timing(spec).matches(epoch, "Europe/Berlin") is inside


@pytest.mark.parametrize(
    "spec", ["25:00-26:00,*,*,*", "*,mo-fr,*,*", "*,*,0-3,*", "*,*,*,*,Mars/Base"]
)
def test_bad_time_specifications(spec: str) -> None:
    with pytest.raises(TimingError):
        parse_timing(spec)


def test_bad_time_specification_in_the_dialplan_names_file_and_line() -> None:
    with pytest.raises(DialplanRunError, match=r"^t.conf:2: GotoIfTime"):
        run("[t]\nexten => s,1,GotoIfTime(8-9,*,*,*?x)\n")


def test_queue_log_takes_four_arguments_and_the_rest_as_additional_info() -> None:
    # app_queue's ql_exec: AST_STANDARD_APP_ARGS into five, the last keeps its commas.
    world, _, ended = run(
        "[t]\nexten => s,1,QueueLog(lotse-fallback,${UNIQUEID},NONE,LOTSEFALLBACK,bremen|direct)\n"
        " same => n,QueueLog(q,${UNIQUEID},Anna,NOTE,a,b)\n"
        " same => n,QueueLog(q,${UNIQUEID},Anna,PAUSE)\n"
        ' same => n,QueueLog("q",${UNIQUEID},An\\na,NOTE,say "hi"\\, (x)\n'
    )
    assert world.log == [
        "queue_log lotse-fallback|1.1|NONE|LOTSEFALLBACK|bremen|direct",
        "queue_log q|1.1|Anna|NOTE|a,b",
        "queue_log q|1.1|Anna|PAUSE|",
        # Quotes and backslashes are removed from the four scanned arguments
        # only; the fifth is the untouched rest (__ast_app_separate_args).
        'queue_log q|1.1|Anna|NOTE|say "hi"\\, (x',
    ]
    assert ended.startswith("fell off")


@pytest.mark.parametrize(
    ("text", "limit", "want"),
    [
        ('a,"b,c",d', None, ["a", "b,c", "d"]),
        ('a,"b,c",d', 2, ["a", '"b,c",d']),  # the rest as it is
        ("a,b\\,c,d", 3, ["a", "b,c", "d"]),
        ("a,b,", 3, ["a", "b", ""]),  # a trailing comma: one more, empty argument
        ("a,b,", 2, ["a", "b,"]),
        ('"a",b', 1, ['"a",b']),
        ("f(a,b),c", 2, ["f(a,b)", "c"]),
    ],
)
def test_arguments_are_split_as_ast_app_separate_args_does(
    text: str, limit: int | None, want: list[str]
) -> None:
    assert split_args(text, limit) == want


@pytest.mark.parametrize(
    "data", ["", "q,${UNIQUEID},,EV,x", "q,,NONE,EV", ",1,NONE,EV", "q,1,NONE"]
)
def test_queue_log_without_its_four_arguments_is_an_error_at_its_line(data: str) -> None:
    # Asterisk warns "QueueLog requires arguments" and the channel hangs up.
    with pytest.raises(DialplanRunError, match=r"t\.conf:2: .*QueueLog requires arguments"):
        run(f"[t]\nexten => s,1,QueueLog({data})\n")
