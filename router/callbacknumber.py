"""Which numbers a callback may dial: German landlines and mobiles, nothing else.

A caller without a usable CLI keys in the number to be called back at. The
dialer must never be made to call a premium-rate line (0900, 0137 mass-call
numbers), an emergency or service short code (110, 112, 115, 116xxx, 118xx),
a shared-cost or personal service number (0180, 0700), or a foreign number:
each costs the public administration money or reaches someone who did not ask.
Only what ``phonenumbers`` calls a valid German fixed-line or mobile number
passes, and the service ranges are refused by prefix as well, so a change in
the library's metadata cannot let one through.
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

# National significant number prefixes (after the trunk 0) that are never dialled back.
_REFUSED_PREFIXES = ("11", "137", "138", "180", "190", "700", "800", "900", "31", "32")
_ALLOWED_TYPES = frozenset(
    {PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
MAX_DIGITS = 16


@dataclass(frozen=True, repr=False)
class CallbackNumber:
    """A number a callback may dial, in E.164 (``+49421...``); never printed whole."""

    e164: str
    mobile: bool

    @property
    def national(self) -> str:
        """The number as dialled inside Germany (``0421...``)."""
        return "0" + self.e164[3:]

    def __repr__(self) -> str:
        return f"CallbackNumber({self.e164[:6]}…)"


class NumberRefused(ValueError):
    """Why a keyed-in number cannot be called back; the message never repeats it."""


def callback_number(raw: str) -> CallbackNumber:
    """Validate a number as keyed in (``0421 123456``, ``0049…``, ``+49…``).

    Raises :class:`NumberRefused` with a reason fit for a log line.
    """
    text = raw.strip()
    digits = "".join(ch for ch in text if ch.isdigit())
    if not digits:
        raise NumberRefused("no digits")
    if len(digits) > MAX_DIGITS:
        raise NumberRefused("too many digits")
    try:
        parsed = phonenumbers.parse(text, "DE")
    except NumberParseException as err:
        raise NumberRefused(f"not a phone number ({err.error_type})") from None
    if parsed.country_code != 49:
        raise NumberRefused("not a German number")
    national = str(parsed.national_number)
    if national.startswith(_REFUSED_PREFIXES):
        raise NumberRefused("a service, premium-rate or short number")
    if not phonenumbers.is_valid_number(parsed):
        raise NumberRefused("not a valid German number")
    kind = phonenumbers.number_type(parsed)
    if kind not in _ALLOWED_TYPES:
        raise NumberRefused("not a landline or mobile number")
    return CallbackNumber(
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        mobile=kind == PhoneNumberType.MOBILE,
    )
