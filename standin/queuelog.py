"""The stand-in's ``queue_log``: the lines app_queue writes, in Asterisk's file format.

One method per event, called by the Queue() application (:mod:`standin.queueapp`)
where app_queue calls ``ast_queue_log``; fields and their order as in
``apps/app_queue.c`` (Asterisk 22) and the real file
(``shared/asterisk/queue_log.txt``)::

    QUEUESTART       NONE|NONE|NONE|QUEUESTART|
    ENTERQUEUE       CALLID|QUEUE|NONE|ENTERQUEUE|url|caller number|original position
    RINGNOANSWER     CALLID|QUEUE|MEMBER|RINGNOANSWER|ring timeout in ms
    RINGCANCELED     CALLID|QUEUE|MEMBER|RINGCANCELED|ms rung
    CONNECT          CALLID|QUEUE|MEMBER|CONNECT|holdtime|member channel uniqueid|ringtime
    COMPLETEAGENT    CALLID|QUEUE|MEMBER|COMPLETEAGENT|holdtime|calltime|original position
    COMPLETECALLER   (the same, when the caller hung up first)
    ABANDON          CALLID|QUEUE|NONE|ABANDON|position|original position|waittime
    EXITWITHTIMEOUT  CALLID|QUEUE|NONE|EXITWITHTIMEOUT|position|original position|waittime
    (QueueLog())     UNIQUEID|QUEUENAME|AGENT|EVENT|additional info as given

The last is the dialplan application ``QueueLog()`` (``ql_exec`` →
``ast_queue_log(queuename, uniqueid, agent, event, "%s", info)``): the info
goes into the line unchanged, so its ``|`` become separate data fields and
an empty one leaves the line ending in ``|``.

The time is the stand-in's clock (virtual epoch seconds, whole). Each line is
flushed at once, as Asterisk does: a reader may see a line being written, but
never lose one. Lines go through :func:`ami.queuelog.format_line`, the
one definition of the format, which lotse reads back with ``parse_line``.
"""

from __future__ import annotations

import os
from typing import TextIO

from ami.queuelog import QueueLogLine, format_line
from standin.channels import Channel
from standin.clock import Clock

NONE = "NONE"


class QueueLog:
    """Where the Queue() application reports; this one writes nothing (no ``--queue-log``)."""

    def queue_start(self) -> None:
        """The queue module was loaded (Asterisk start)."""

    def enter(self, ch: Channel, queue: str, opos: int) -> None:
        """The caller joined ``queue`` at original position ``opos``."""

    def ring_noanswer(self, ch: Channel, queue: str, member: str, ms: int) -> None:
        """``member`` did not answer within ``ms``."""

    def ring_canceled(self, ch: Channel, queue: str, member: str, ms: int) -> None:
        """The caller hung up while ``member`` had been rung for ``ms``."""

    def connect(
        self, ch: Channel, queue: str, member: str, hold: int, peer: Channel, ring_s: int
    ) -> None:
        """``member`` answered after the caller waited ``hold`` s; ``peer`` is its channel."""

    def complete(
        self,
        ch: Channel,
        queue: str,
        member: str,
        *,
        by_agent: bool,
        hold: int,
        talk: int,
        opos: int,
    ) -> None:
        """The answered call ended: the agent or the caller hung up after ``talk`` s."""

    def abandon(self, ch: Channel, queue: str, pos: int, opos: int, wait: int) -> None:
        """The caller hung up while waiting at ``pos``."""

    def timeout(self, ch: Channel, queue: str, pos: int, opos: int, wait: int) -> None:
        """The Queue() timeout expired; the caller goes on in the dialplan."""

    def custom(self, queue: str, callid: str, agent: str, event: str, info: str) -> None:
        """A line the dialplan wrote with QueueLog()."""

    def close(self) -> None:
        """Close the file."""


class QueueLogFile(QueueLog):
    """Writes Asterisk's queue_log file at ``path`` (appending, like Asterisk)."""

    def __init__(self, path: str | os.PathLike[str], clock: Clock) -> None:
        self._clock = clock
        self._file: TextIO = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        self.path = path

    def _write(self, callid: str, queue: str, agent: str, event: str, *data: object) -> None:
        line = QueueLogLine(
            int(self._clock.now()), callid, queue, agent, event, tuple(str(d) for d in data)
        )
        self._file.write(format_line(line) + "\n")
        self._file.flush()

    def queue_start(self) -> None:
        self._write(NONE, NONE, NONE, "QUEUESTART", "")

    def enter(self, ch: Channel, queue: str, opos: int) -> None:
        self._write(ch.uniqueid, queue, NONE, "ENTERQUEUE", "", ch.caller_num, opos)

    def ring_noanswer(self, ch: Channel, queue: str, member: str, ms: int) -> None:
        self._write(ch.uniqueid, queue, member, "RINGNOANSWER", ms)

    def ring_canceled(self, ch: Channel, queue: str, member: str, ms: int) -> None:
        self._write(ch.uniqueid, queue, member, "RINGCANCELED", ms)

    def connect(
        self, ch: Channel, queue: str, member: str, hold: int, peer: Channel, ring_s: int
    ) -> None:
        self._write(ch.uniqueid, queue, member, "CONNECT", hold, peer.uniqueid, ring_s)

    def complete(
        self,
        ch: Channel,
        queue: str,
        member: str,
        *,
        by_agent: bool,
        hold: int,
        talk: int,
        opos: int,
    ) -> None:
        event = "COMPLETEAGENT" if by_agent else "COMPLETECALLER"
        self._write(ch.uniqueid, queue, member, event, hold, talk, opos)

    def abandon(self, ch: Channel, queue: str, pos: int, opos: int, wait: int) -> None:
        self._write(ch.uniqueid, queue, NONE, "ABANDON", pos, opos, wait)

    def timeout(self, ch: Channel, queue: str, pos: int, opos: int, wait: int) -> None:
        self._write(ch.uniqueid, queue, NONE, "EXITWITHTIMEOUT", pos, opos, wait)

    def custom(self, queue: str, callid: str, agent: str, event: str, info: str) -> None:
        self._write(callid, queue, agent, event, *info.split("|"))

    def close(self) -> None:
        self._file.close()
