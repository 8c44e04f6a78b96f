"""The keys of the stored callback numbers: one that seals, older ones that still open.

A callback number is stored encrypted (AES-GCM, a key derived with HKDF from
the callback key, the request id as associated data so a token cannot be
moved to another row). Keys are changed now and then, or after a leak, and a
caller promised a call must not be forgotten for it, so the controller holds
a ring:

* ``$LOTSE_CALLBACK_KEY`` — the **current** key: seals every new number (and
  opens what it sealed);
* ``$LOTSE_CALLBACK_KEYS`` — **older** keys, which only open: keys separated
  by commas or line breaks, newest first (a key holds neither; spaces around
  one are ignored), e.g. ``LOTSE_CALLBACK_KEYS=<key of last year>,<key
  before>``, or one per line in the systemd credential ``callback-keys``
  (:mod:`lotse.credentials`).

Every key has at least 16 bytes; a shorter older key is ignored, and said so
by its place in the list, never by its value. ``lotse journal rekey`` seals
the open requests' numbers under the current key again; then the older keys
can go. A number no key in the ring opens is *locked*: listed and counted,
never dialled, cancellable, kept until a key that opens it returns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from router.callbacknumber import CallbackNumber, callback_number

CURRENT_ENV = "LOTSE_CALLBACK_KEY"
OLDER_ENV = "LOTSE_CALLBACK_KEYS"
MIN_KEY_BYTES = 16
_NONCE_BYTES = 12
_HKDF_INFO = b"lotse callback number v1"


class CallbackKeyError(ValueError):
    """A stored number opens with no key at hand (another key, or a damaged row)."""


class NumberCipher:
    """Encrypts callback numbers at rest; built from a secret of at least 16 bytes."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < MIN_KEY_BYTES:
            raise ValueError(f"a callback key needs at least {MIN_KEY_BYTES} bytes")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(secret)
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "NumberCipher(<key>)"

    def seal(self, number: CallbackNumber, request_id: str) -> bytes:
        """The number's E.164 form, encrypted and bound to ``request_id``."""
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, number.e164.encode("ascii"), request_id.encode())

    def open(self, token: bytes, request_id: str) -> CallbackNumber:
        """The number sealed for ``request_id``; raises :class:`CallbackKeyError`."""
        nonce, body = token[:_NONCE_BYTES], token[_NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, body, request_id.encode())
        except (InvalidTag, ValueError):  # ValueError: a token too short to hold a nonce
            raise CallbackKeyError("a stored callback number does not decrypt") from None
        return callback_number(plain.decode("ascii"))


@dataclass(frozen=True, repr=False)
class KeyRing:
    """The current key (``None``: no new number can be stored) and the older ones."""

    current: NumberCipher | None
    older: tuple[NumberCipher, ...] = ()

    def __repr__(self) -> str:
        return f"KeyRing(current={self.current is not None}, older={len(self.older)})"

    @property
    def can_seal(self) -> bool:
        """True if new numbers can be stored."""
        return self.current is not None

    def seal(self, number: CallbackNumber, request_id: str) -> bytes:
        """``number`` sealed under the current key; :class:`CallbackKeyError` without one."""
        if self.current is None:
            raise CallbackKeyError(f"no current callback key (${CURRENT_ENV})")
        return self.current.seal(number, request_id)

    def opener(self, token: bytes | None, request_id: str) -> int | None:
        """Which key opens ``token``: 0 the current one, 1… the older ones in
        order, ``None`` none (a locked request)."""
        if token is None:
            return None
        keys = ((self.current,) if self.current is not None else ()) + self.older
        offset = 0 if self.current is not None else 1
        for at, key in enumerate(keys):
            try:
                key.open(token, request_id)
            except CallbackKeyError:
                continue
            return at + offset
        return None

    def open(self, token: bytes, request_id: str) -> CallbackNumber:
        """The number sealed for ``request_id``, under whichever key opens it."""
        keys = ((self.current,) if self.current is not None else ()) + self.older
        for key in keys:
            try:
                return key.open(token, request_id)
            except CallbackKeyError:
                continue
        raise CallbackKeyError("no callback key at hand opens this stored number")


def key_ring(environ: Mapping[str, str] | None = None) -> tuple[KeyRing, list[str]]:
    """The ring from ``$LOTSE_CALLBACK_KEY`` and ``$LOTSE_CALLBACK_KEYS``, and what
    was wrong with them (one line each, naming a key by its place, never its value)."""
    env = os.environ if environ is None else environ
    problems: list[str] = []
    current_text = env.get(CURRENT_ENV, "")
    current = None
    if len(current_text.encode()) >= MIN_KEY_BYTES:
        current = NumberCipher(current_text.encode())
    elif current_text:
        problems.append(f"${CURRENT_ENV} is shorter than {MIN_KEY_BYTES} bytes: ignored")
    older: list[NumberCipher] = []
    seen = {current_text} if current is not None else set()
    items = env.get(OLDER_ENV, "").replace("\r", "\n").replace("\n", ",").split(",")
    for place, item in enumerate(items, start=1):
        text = item.strip()
        if not text or text in seen:
            continue
        if len(text.encode()) < MIN_KEY_BYTES:
            problems.append(
                f"${OLDER_ENV}: key {place} is shorter than {MIN_KEY_BYTES} bytes: ignored"
            )
            continue
        seen.add(text)
        older.append(NumberCipher(text.encode()))
    return KeyRing(current, tuple(older)), problems
