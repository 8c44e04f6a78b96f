"""Keeping caller numbers out of the journal while still recognising repeat callers.

A caller number is personal data. The journal stores two things instead:

* the caller's **Ortsnetz prefix** (``0221``): where calls come from is what
  routing and capacity planning need, and an area code names a town, not a
  person;
* a **caller hash**: HMAC-SHA256 of the caller number in one canonical
  spelling, keyed with a secret key, hex, truncated to 16 characters.

The hash lets an audit link the repeat calls of one caller inside the
retention period ("how many callers tried three times before they got
through?") without the number. It must be keyed: German numbers are few
enough (an Ortsnetz has at most some 10⁸ subscriber numbers) that a plain hash
is reversed by trying them all. With the key kept away from the journal file,
someone holding only the file cannot do that. 64 bits are plenty to keep
distinct callers apart over a retention period (collisions become likely only
near 2³² callers) and keep the rows small; truncation adds no secrecy.

The key comes from the environment variable the configuration names
(``controller.journal_key_env``, default ``LOTSE_JOURNAL_KEY``), else from the
key file it names (``controller.journal_key_file``), which must not be
readable by group or others (mode 0600 or stricter). ``LOTSE_JOURNAL_SALT``
(``controller.journal_salt_env``), the older name, is still read, with a
deprecation warning. The key is never stored in the journal, never passed to
SQLite, never logged; ``lotse run`` refuses to start without one. A journal
an older lotse wrote kept a generated salt in its own ``meta`` table (so that
whoever had the file had the key): it is deleted when the journal is opened,
and the hashes made with it stay as they were, no longer linked to new ones.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HASH_HEX_CHARS = 16
# A key shorter than this is guessable, which would make the hashes reversible.
MIN_KEY_BYTES = 16
KEY_BYTES = 32
# Older names, kept for callers of an earlier version.
MIN_SALT_BYTES = MIN_KEY_BYTES
SALT_BYTES = KEY_BYTES

_SEPARATORS = str.maketrans("", "", " \t-/.()[]\u00a0")
_ANONYMOUS = frozenset({"", "anonymous", "anonym", "unknown", "<unknown>", "restricted", "private"})


class JournalKeyError(ValueError):
    """The journal key is missing or unusable; the message never contains the key."""


# The older name of the same error.
SaltError = JournalKeyError


@dataclass(frozen=True, repr=False)
class JournalKey:
    """The key of the caller hashes, and where it came from (for the log, never the key)."""

    secret: bytes
    source: str

    def __repr__(self) -> str:
        # Never the key, whoever prints this object.
        return f"JournalKey(source={self.source!r})"


def caller_hash(number_digits: str, salt: bytes) -> str:
    """HMAC-SHA256 of ``number_digits`` keyed with ``salt`` (the key), as 16 hex characters."""
    mac = hmac.new(salt, number_digits.encode("ascii", "replace"), hashlib.sha256)
    return mac.hexdigest()[:HASH_HEX_CHARS]


def canonical_number(raw: str) -> str | None:
    """One spelling per German caller number, so its calls hash alike.

    ``+49 221 1234567``, ``0049 221 1234567``, ``+49 (0)221 1234567`` and
    ``02211234567`` all give ``02211234567``; other countries keep their
    international form (``0043…``). Trunks that strip the trunk 0 deliver bare
    national digits, which are read as national. Anonymous callers and input
    that is no number give ``None``: they are not linked to each other.
    """
    text = raw.strip()
    if text.lower() in _ANONYMOUS:
        return None
    digits = text.translate(_SEPARATORS)
    if digits.startswith("+"):
        digits = "00" + digits[1:]
    if not (digits.isascii() and digits.isdigit()):
        return None
    if digits.startswith("0049"):
        national = digits[4:]
        return "0" + (national[1:] if national.startswith("0") else national)
    if digits.startswith("0"):
        return digits
    return "0" + digits


def hash_caller(raw: str, salt: bytes) -> str | None:
    """The caller hash of a number as the switch delivered it, ``None`` if anonymous."""
    number = canonical_number(raw)
    return None if number is None else caller_hash(number, salt)


def _checked(value: bytes, where: str) -> bytes:
    if len(value) < MIN_KEY_BYTES:
        raise JournalKeyError(
            f"{where} is too short for a journal key: "
            f"use at least {MIN_KEY_BYTES} random characters"
        )
    return value


def salt_from_env(name: str, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The key from the environment variable ``name``, or ``None`` when unset or empty.

    Raises :class:`JournalKeyError` for a key shorter than 16 bytes.
    """
    env = os.environ if environ is None else environ
    value = env.get(name, "")
    if not value:
        return None
    return _checked(value.encode("utf-8"), f"${name}")


key_from_env = salt_from_env


def key_from_file(path: str | Path) -> bytes:
    """The key in the file at ``path`` (surrounding whitespace stripped).

    The file must be a regular file readable by its owner only (mode 0600 or
    0400): a key the whole machine can read protects nothing. Raises
    :class:`JournalKeyError` naming the file and the problem, never the key.
    """
    where = f"journal key file {path}"
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as err:
        raise JournalKeyError(f"{where}: {err.strerror}") from None
    try:
        # Checked on the file opened, so it cannot be swapped in between.
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise JournalKeyError(f"{where}: not a regular file")
        if mode & 0o077:
            raise JournalKeyError(
                f"{where}: open to group or others (mode {stat.S_IMODE(mode):04o}); "
                f"chmod 600 {path}"
            )
        with os.fdopen(os.dup(fd), "rb") as file:
            value = file.read().strip()
    finally:
        os.close(fd)
    if not value:
        raise JournalKeyError(f"{where}: empty")
    return _checked(value, where)


def load_key(
    key_env: str | None,
    key_file: str | None,
    salt_env: str | None,
    environ: Mapping[str, str] | None = None,
) -> JournalKey | None:
    """The journal key: from ``$key_env``, else ``key_file``, else ``$salt_env`` (deprecated).

    ``None`` when none is set. Raises :class:`JournalKeyError` for a key that
    is too short or a key file that is unreadable or readable by others.
    """
    env = os.environ if environ is None else environ
    if key_env:
        value = salt_from_env(key_env, env)
        if value is not None:
            return JournalKey(value, f"${key_env}")
    if key_file:
        return JournalKey(key_from_file(key_file), f"file {key_file}")
    if salt_env:
        value = salt_from_env(salt_env, env)
        if value is not None:
            return JournalKey(value, f"${salt_env} (deprecated name)")
    return None


def write_key_file(path: Path, random_bytes: int = KEY_BYTES) -> None:
    """Create a new random key file at ``path``, mode 0600 from its first byte on.

    Raises ``FileExistsError`` if the file exists: a key is never overwritten,
    since every hash made with it would lose its link to the new ones.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write(os.urandom(random_bytes).hex() + "\n")
