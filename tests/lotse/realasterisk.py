"""The harness of the tests that run against a real Asterisk (``test_real_asterisk*.py``).

They run only when ``LOTSE_TEST_ASTERISK=host:port`` names the AMI of a real
Asterisk 22 set up like ``../shared/tools/real-asterisk.sh`` sets it up (lotse's
generated files ``#include``d, queue members as Local channels in
``[lotse-agents]``, a Local ``[callee]`` context for callback legs, an
all-privileges AMI user); otherwise they skip. Everything else has a default
taken from that script's layout below ``$LOTSE_TEST_ASTERISK_BASE``:

=================================== ==============================================
``LOTSE_TEST_ASTERISK``             AMI ``host:port`` (required; unset: skip)
``LOTSE_TEST_ASTERISK_BASE``        the script's work directory (``$HOME/asterisk-check``)
``LOTSE_TEST_ASTERISK_SECRET``      AMI secret of user ``lotse`` (``BASE/ami-secret``)
``LOTSE_TEST_ASTERISK_CB_SECRET``   of ``lotse-callback`` (``BASE/cb-ami-secret``)
``LOTSE_TEST_ASTERISK_ADMIN``       an all-privileges AMI user (``astcheck``)
``LOTSE_TEST_ASTERISK_ADMIN_SECRET`` its secret (``BASE/admin-secret``)
``LOTSE_TEST_ASTERISK_ETC``         where Asterisk ``#include``s lotse's generated
                                    files (``BASE/ast/etc/asterisk/lotse``)
``LOTSE_TEST_ASTERISK_LOGDIR``      Asterisk's log directory, with ``queue_log`` and
                                    ``full.log`` (``BASE/ast/var/log/asterisk``)
=================================== ==============================================

The tests write lotse's generated files (from a test copy of ``config.yaml``
with its own FastAGI port) into that directory and reload Asterisk over AMI,
then start a real ``lotse run`` of this checkout against it. They place calls
with AMI Originate to ``Local/<dialed>@from-trunk`` and wait on AMI events,
the journal and the metrics, never on a fixed sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ami.codec import AmiParser, Message, encode

ROOT = Path(__file__).resolve().parents[2]
TARGET = os.environ.get("LOTSE_TEST_ASTERISK", "")
SKIP_REASON = "no real Asterisk: set LOTSE_TEST_ASTERISK=host:port to run these"
# The test center of the callback cases: queue 115-bremen is the first queue
# of config.yaml, so its members are Local/1011 and 1012 (NOANSWER_101).
CB_CENTER = "bremen"
CB_QUEUE = "115-bremen"
CB_NOANSWER = "NOANSWER_101"
# The test configuration's callback_dial: a Local "callee" context in place of
# the callback trunk.
CALLEE_DIAL = "Local/${CB_DIAL}@callee"
# Callback numbers (national) and how that citizen's phone behaves; every other
# number is the script's default callee (answers after 2 s, talks 10 s).
CALLEE_HANGS_UP = "04215550101"  # answers, talks 3 s, hangs up (before the agent)
CALLEE_TALKS = "04215550102"  # answers and talks until the agent hangs up (20 s)
CALLEE_NO_ANSWER = "04215550103"  # rings until the ring timeout
CALLEE_BUSY = "04215550104"  # busy
CALLEE_AFTER_HOURS = "04215550105"  # like CALLEE_HANGS_UP
CALLEES: dict[str, list[tuple[str, str]]] = {
    CALLEE_HANGS_UP: [
        ("Ringing", ""),
        ("Wait", "2"),
        ("Answer", ""),
        ("Wait", "3"),
        ("Hangup", ""),
    ],
    CALLEE_AFTER_HOURS: [
        ("Ringing", ""),
        ("Wait", "2"),
        ("Answer", ""),
        ("Wait", "3"),
        ("Hangup", ""),
    ],
    CALLEE_TALKS: [("Ringing", ""), ("Wait", "2"), ("Answer", ""), ("Wait", "600"), ("Hangup", "")],
    CALLEE_NO_ANSWER: [("Ringing", ""), ("Wait", "600")],
    CALLEE_BUSY: [("Busy", "")],
}


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


@dataclass(frozen=True)
class Settings:
    """Where the real Asterisk is and how to log in, from the environment."""

    host: str
    port: int
    base: Path
    lotse_secret: str
    callback_secret: str
    admin_user: str
    admin_secret: str
    etc: Path
    logdir: Path

    @classmethod
    def from_env(cls) -> Settings:
        host, _, port = TARGET.rpartition(":")
        base = Path(os.environ.get("LOTSE_TEST_ASTERISK_BASE") or Path.home() / "asterisk-check")
        env = os.environ.get
        return cls(
            host=host or "127.0.0.1",
            port=int(port),
            base=base,
            lotse_secret=env("LOTSE_TEST_ASTERISK_SECRET") or _read(base / "ami-secret"),
            callback_secret=env("LOTSE_TEST_ASTERISK_CB_SECRET") or _read(base / "cb-ami-secret"),
            admin_user=env("LOTSE_TEST_ASTERISK_ADMIN") or "astcheck",
            admin_secret=env("LOTSE_TEST_ASTERISK_ADMIN_SECRET") or _read(base / "admin-secret"),
            etc=Path(env("LOTSE_TEST_ASTERISK_ETC") or base / "ast/etc/asterisk/lotse"),
            logdir=Path(env("LOTSE_TEST_ASTERISK_LOGDIR") or base / "ast/var/log/asterisk"),
        )

    @property
    def queue_log(self) -> Path:
        return self.logdir / "queue_log"

    @property
    def full_log(self) -> Path:
        return self.logdir / "full.log"


# Log events that mean lotse could not read or use what Asterisk sent.
BAD_EVENTS = frozenset(
    {
        "ami.malformed",
        "state.event_failed",
        "callbacks.event_failed",
        "callbacks.tick_failed",
        "callbacks.recover_failed",
    }
)


def free_port() -> int:
    """A loopback port free right now (the tests' own listeners bind it at once)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- AMI, as the all-privileges user ---------------------------------------------


class Ami:
    """A plain AMI client that keeps every event (the checks watch what lotse's
    least-privilege users cannot see: DialBegin, Newexten, OriginateResponse…)."""

    def __init__(self) -> None:
        self.events: list[Message] = []
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = AmiParser()
        self._waiting: dict[str, asyncio.Future[Message]] = {}
        self._ids = (f"t-{n}" for n in itertools.count(1))
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # The prefix of this test's call ids (its calls are hung up after it).
        self.prefix = "rt"
        self._n = itertools.count(1)

    def call_id(self) -> str:
        """A fresh ChannelId for this test's next call."""
        return f"{self.prefix}-{next(self._n)}"

    async def connect(self, s: Settings) -> None:
        self._reader, self._writer = await asyncio.open_connection(s.host, s.port)
        self._task = asyncio.create_task(self._read())
        await self.action("Login", Username=s.admin_user, Secret=s.admin_secret, Events="on")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.action("Logoff", timeout=2)
        if self._writer is not None:
            self._writer.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _read(self) -> None:
        assert self._reader is not None
        while data := await self._reader.read(65536):
            for msg in self._parser.feed(data):
                if not isinstance(msg, Message):
                    continue
                aid = msg.action_id
                if msg.kind == "response" and aid in self._waiting:
                    fut = self._waiting.pop(aid)
                    if not fut.done():
                        fut.set_result(msg)
                elif msg.kind == "event":
                    self.events.append(msg)
            self._changed.set()

    async def action(self, name: str, *, timeout: float = 10, **fields: str) -> Message:
        """Send an action; its response (raises on ``Response: Error``)."""
        return await self.send(name, fields, timeout)

    async def send(self, name: str, fields: dict[str, str], timeout: float = 10) -> Message:
        """:meth:`action` with the fields as a dict."""
        assert self._writer is not None
        aid = next(self._ids)
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiting[aid] = fut
        pairs = [("Action", name), ("ActionID", aid), *fields.items()]
        self._writer.write(encode(pairs))
        async with asyncio.timeout(timeout):
            msg = await fut
        if (msg.get("Response") or "").lower() == "error":
            raise RuntimeError(f"AMI {name}: {msg.get('Message')}")
        return msg

    async def command(self, cli: str) -> Message:
        return await self.action("Command", Command=cli)

    def mark(self) -> int:
        """A position in the event list: ``wait_for(since=…)`` looks only after it."""
        return len(self.events)

    def matching(self, since: int = 0, **want: str | Callable[[str], bool]) -> list[Message]:
        return [e for e in self.events[since:] if _matches(e, want)]

    async def wait_for(
        self, since: int = 0, timeout: float = 60, **want: str | Callable[[str], bool]
    ) -> Message:
        """The first event after ``since`` whose headers match ``want`` (a value or a test)."""
        seen = since
        async with asyncio.timeout(timeout):
            while True:
                for e in self.events[seen:]:
                    if _matches(e, want):
                        return e
                seen = len(self.events)
                self._changed.clear()
                await self._changed.wait()

    async def set_global(self, name: str, value: str) -> None:
        await self.action("Setvar", Variable=f"GLOBAL({name})", Value=value)

    async def originate(
        self,
        channel_id: str,
        caller: str,
        *,
        dialed: str = "115",
        variables: dict[str, str] | None = None,
    ) -> str:
        """A citizen calls ``dialed`` from ``caller``: Originate to ``Local/<dialed>@from-trunk``;
        the phone side (``;1``, Uniqueid ``channel_id``) waits. Returns the call id lotse
        journals, the Uniqueid of the ``;2`` half that runs the dialplan."""
        fields: dict[str, str] = {
            "Channel": f"Local/{dialed}@from-trunk",
            "ChannelId": channel_id,
            "Application": "Wait",
            "Data": "3600",
            "Async": "true",
        }
        if caller:  # none: an anonymous caller (no number on the dialplan's side)
            fields["CallerID"] = f'"" <{caller}>'
        if variables:
            fields["Variable"] = ",".join(f"{k}={v}" for k, v in variables.items())
        await self.send("Originate", fields)
        return f"{channel_id};2"

    async def phone(self, channel_id: str, timeout: float = 30) -> str:
        """The channel name of a call's phone side (``;1``), once it exists."""
        e = await self.wait_for(0, timeout, Event="Newchannel", Uniqueid=channel_id)
        return e.get("Channel") or ""

    async def hangup_all(self, prefix: str) -> None:
        """Hang up every channel whose name or uniqueid starts with this test's ids."""
        mark = self.mark()
        await self.action("CoreShowChannels")
        with contextlib.suppress(TimeoutError):
            await self.wait_for(mark, 10, Event="CoreShowChannelsComplete")
        res = self.matching(mark, Event="CoreShowChannel")
        for e in res:
            uid = e.get("Uniqueid") or ""
            # The phone sides (;1) only: the rest of each call follows them.
            if uid.startswith(prefix) and not uid.endswith(";2"):
                with contextlib.suppress(Exception):
                    await self.action("Hangup", Channel=e.get("Channel") or "")


def _matches(e: Message, want: dict[str, str | Callable[[str], bool]]) -> bool:
    for key, expected in want.items():
        value = e.get(key)
        if value is None:
            return False
        if callable(expected):
            if not expected(value):
                return False
        elif value != expected:
            return False
    return True


# --- the lotse configuration and the generated files --------------------------------


def make_config(tmp: Path, s: Settings, *, agi_port: int, metrics_port: int) -> Path:
    """config.yaml with the controller pointed at the real Asterisk and the test's
    ports and files, and callback settings short enough for a test."""
    doc = yaml.safe_load((ROOT / "config.yaml").read_text())
    doc["controller"].update(
        {
            "ami": f"{s.host}:{s.port}",
            "agi_listen": f"127.0.0.1:{agi_port}",
            "metrics_listen": f"127.0.0.1:{metrics_port}",
            "journal": str(tmp / "journal.sqlite"),
            "control_socket": str(tmp / "lotse.sock"),
            "queue_log": str(s.queue_log),
        }
    )
    # The citizen's phone: the Local callee instead of the callback trunk.
    doc["callback_dial"] = CALLEE_DIAL
    for center in doc["centers"].values():
        if center.get("callback") is not None:
            center["callback"].update({"attempts": 2, "retry_interval_s": 5, "ring_timeout_s": 8})
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))
    return path


def lotse_cmd(*args: str) -> list[str]:
    """This checkout's ``lotse`` (the console script beside the test's Python)."""
    return [str(Path(sys.executable).with_name("lotse")), *args]


def build_dialplan(config: Path, s: Settings) -> None:
    """lotse's generated files for ``config`` into Asterisk's include directory."""
    subprocess.run(
        lotse_cmd("dialplan", "build", "--config", str(config), "--out", str(s.etc)),
        check=True,
        cwd=ROOT,
        capture_output=True,
    )


async def prepare_asterisk(s: Settings, *, callees: bool = True) -> None:
    """Load lotse's files as they are now, and the test callees (``[callee]``
    extensions by number: the citizen who is busy, does not answer, or talks long)."""
    ami = Ami()
    await ami.connect(s)
    try:
        for cli in ("dialplan reload", "queue reload all", "manager reload"):
            await ami.command(cli)
        for number, steps in CALLEES.items() if callees else ():
            for prio, (app, data) in enumerate(steps, start=1):
                await ami.action(
                    "DialplanExtensionAdd",
                    Context="callee",
                    Extension=number,
                    Priority=str(prio),
                    Application=app,
                    ApplicationData=data,
                    Replace="yes",
                )
    finally:
        await ami.close()


# --- a real `lotse run` ----------------------------------------------------------------


@dataclass
class Lotse:
    """A ``lotse run`` process of this checkout against the real Asterisk."""

    config: Path
    tmp: Path
    s: Settings
    metrics_port: int
    proc: subprocess.Popen[bytes] | None = None
    runs: int = 0
    env: dict[str, str] = field(default_factory=dict)

    @property
    def journal(self) -> Path:
        return self.tmp / "journal.sqlite"

    @property
    def socket(self) -> Path:
        return self.tmp / "lotse.sock"

    def start(self) -> None:
        assert self.proc is None or self.proc.poll() is not None
        self.runs += 1
        env = dict(os.environ)
        env.update(
            {
                "LOTSE_AMI_SECRET": self.s.lotse_secret,
                "LOTSE_CALLBACK_AMI_SECRET": self.s.callback_secret,
                "LOTSE_JOURNAL_KEY": "real-asterisk-test-journal-key",
                "LOTSE_CALLBACK_KEY": "real-asterisk-test-callback-key",
                **self.env,
            }
        )
        log = (self.tmp / f"lotse-{self.runs}.log").open("wb")
        self.proc = subprocess.Popen(
            lotse_cmd("run", "--config", str(self.config)),
            cwd=self.tmp,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return (self.tmp / f"lotse-{self.runs}.log").read_text(errors="replace")

    def problems(self) -> list[str]:
        """Log lines of every run so far that say lotse misread or failed on
        something Asterisk sent (errors, malformed AMI input, failed events)."""
        out = []
        for run in range(1, self.runs + 1):
            text = (self.tmp / f"lotse-{run}.log").read_text(errors="replace")
            for line in text.splitlines():
                try:
                    rec = json.loads(line)
                except ValueError:
                    out.append(line)  # not a log record: a traceback
                    continue
                if rec.get("level") in ("error", "critical") or rec.get("event") in BAD_EVENTS:
                    out.append(line)
        return out

    def kill(self) -> None:
        """SIGKILL: nothing drained, nothing flushed beyond what is committed."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM (drain, flush the journal) and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    async def ready(self, timeout: float = 60) -> None:
        """Logged in over AMI, state resynced (the metrics say so), callbacks started."""
        async with asyncio.timeout(timeout):
            while True:
                assert self.proc is not None and self.proc.poll() is None, self.log()[-3000:]
                m = await self.metrics_or_none()
                if (
                    m is not None
                    and m.get(("lotse_ami_connected", ()), 0) == 1
                    and m.get(("lotse_state_stale", ()), 1) == 0
                    and "callbacks.started" in self.log()
                ):
                    return
                await asyncio.sleep(0.2)

    async def metrics_or_none(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
        try:
            return await asyncio.to_thread(self._scrape)
        except OSError:
            return None

    async def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return await asyncio.to_thread(self._scrape)

    def _scrape(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        from prometheus_client.parser import text_string_to_metric_families

        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        out = {}
        for fam in text_string_to_metric_families(text):
            for sample in fam.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out

    def ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            lotse_cmd("ctl", "--socket", str(self.socket), *args),
            check=check,
            capture_output=True,
            text=True,
            cwd=self.tmp,
        )

    def report(self, day: str) -> Any:
        """``lotse report --json`` of that day (only while :meth:`offline`)."""
        out = subprocess.run(
            lotse_cmd("report", "--day", day, "--journal", str(self.journal), "--json"),
            capture_output=True,
            text=True,
            cwd=self.tmp,
            env={**os.environ, "LOTSE_JOURNAL_KEY": "real-asterisk-test-journal-key"},
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    async def caught_up(self, timeout: float = 120) -> None:
        """The queue_log as it is now is read and every call in it imported: the
        calls of earlier sessions in the file are this journal's before a test
        counts the fallback's calls (the import takes a call once its newest line
        is 10 s old and the follower has waited 3 s more after reading it)."""
        lines = self.s.queue_log.read_bytes().splitlines() if self.s.queue_log.exists() else []
        newest = max((int(x.split(b"|", 1)[0]) for x in lines if x[:1].isdigit()), default=0)
        total = 0.0
        read_at: float | None = None
        async with asyncio.timeout(timeout):
            while True:
                m = await self.metrics()
                total = sum(
                    v for (name, _), v in m.items() if name == "lotse_queue_log_lines_total"
                )
                if read_at is None and total >= len(lines):
                    read_at = time.time()
                # The importer's rule (lotse.queuelog): 10 s after the newest line,
                # 3 s after reading it; then one more poll of the file.
                if read_at is not None and time.time() >= max(newest + 10, read_at + 3) + 2:
                    return
                await asyncio.sleep(0.25)

    @contextlib.asynccontextmanager
    async def offline(self) -> AsyncIterator[None]:
        """lotse stopped (SIGTERM: its journal flushed and unlocked) for reading the
        journal and the report, then started again on the same journal. While
        ``lotse run`` has the journal open no other process may open it."""
        self.stop()
        try:
            yield
        finally:
            self.start()
            await self.ready()

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        """Query the journal (only while :meth:`offline`)."""
        assert self.proc is None or self.proc.poll() is not None, "lotse holds the journal"
        conn = sqlite3.connect(self.journal, timeout=10)
        conn.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in conn.execute(sql, params)]
        finally:
            conn.close()

    async def pending(self) -> list[dict[str, Any]]:
        """The open callback requests, as ``lotse ctl callbacks --json`` lists them."""
        done = await asyncio.to_thread(self.ctl, "--json", "callbacks")
        return list(json.loads(done.stdout)["pending"])

    async def until_metric(
        self, name: str, labels: dict[str, str], at_least: float, timeout: float = 120
    ) -> float:
        """Wait until a metric reaches ``at_least``; its value then."""
        value = 0.0
        try:
            async with asyncio.timeout(timeout):
                while True:
                    m = await self.metrics()
                    value = metric(m, name, **labels)
                    if value >= at_least:
                        return value
                    await asyncio.sleep(0.25)
        except TimeoutError:
            raise AssertionError(f"{name}{labels} stayed at {value} < {at_least}") from None


def metric(
    m: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return m.get((name, tuple(sorted(labels.items()))), 0.0)


def full_log_since(s: Settings, offset: int) -> str:
    with s.full_log.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def full_log_size(s: Settings) -> int:
    try:
        return s.full_log.stat().st_size
    except OSError:
        return 0


def unique_prefix() -> str:
    """Call ids unique on this Asterisk across runs (it refuses a ChannelId in use)."""
    return f"rt{int(time.time() * 1000) % 10**10:010d}"


def counter() -> Iterator[int]:
    return itertools.count(1)
