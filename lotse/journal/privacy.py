"""Keeping caller numbers out of the journal while still recognising repeat callers.

A caller number is personal data. The journal stores two things instead:

* the caller's **Ortsnetz prefix** (``0221``): where calls come from is what
  routing and capacity planning need, and an area code names a town, not a
  person;
* a **caller hash**: HMAC-SHA256 of the caller number in one canonical
  spelling, keyed with a secret salt, hex, truncated to 16 characters.

The hash lets an audit link the repeat calls of one caller inside the
retention period ("how many callers tried three times before they got
through?") without the number. It must be keyed: German numbers are few
enough (an Ortsnetz has at most some 10⁸ subscriber numbers) that a plain hash
is reversed by trying them all. With the key kept away from the journal file,
someone holding only the file cannot do that. 64 bits are plenty to keep
distinct callers apart over a retention period (collisions become likely only
near 2³² callers) and keep the rows small; truncation adds no secrecy.

The salt comes from the environment variable the configuration names
(``controller.journal_salt_env``). When it is unset the journal draws a random
salt once and keeps it in its own ``meta`` table, so hashes stay stable across
restarts of that journal — but then whoever has the file has the key, and the
hashes only resist casual reading. Production deployments should set the
variable. The salt is never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

HASH_HEX_CHARS = 16
# A salt shorter than this is guessable, which would make the hashes reversible.
MIN_SALT_BYTES = 16
SALT_BYTES = 32

_SEPARATORS = str.maketrans("", "", " \t-/.()[]\u00a0")
_ANONYMOUS = frozenset({"", "anonymous", "anonym", "unknown", "<unknown>", "restricted", "private"})


class SaltError(ValueError):
    """The configured salt is unusable; the message never contains the salt."""


def caller_hash(number_digits: str, salt: bytes) -> str:
    """HMAC-SHA256 of ``number_digits`` keyed with ``salt``, as 16 hex characters."""
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


def salt_from_env(name: str, environ: Mapping[str, str] | None = None) -> bytes | None:
    """The salt from the environment variable ``name``, or ``None`` when unset or empty.

    Raises :class:`SaltError` for a salt shorter than 16 bytes.
    """
    env = os.environ if environ is None else environ
    value = env.get(name, "")
    if not value:
        return None
    salt = value.encode("utf-8")
    if len(salt) < MIN_SALT_BYTES:
        raise SaltError(
            f"${name} is too short for a journal salt: "
            f"use at least {MIN_SALT_BYTES} random characters"
        )
    return salt
