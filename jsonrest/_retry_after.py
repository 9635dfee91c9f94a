"""Reading a `Retry-After` header, which comes from the host and so is untrusted.

`parse_retry_after` returns the seconds to wait, or None for anything it cannot
read; it never raises, whatever the header holds.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from email.utils import parsedate_tz

__all__ = ["MAX_RETRY_AFTER", "parse_retry_after"]

#: The longest wait a `Retry-After` can ask for, in seconds (2**31, about 68
#: years). RFC 9111 §1.2.2 tells caches to read a delta-seconds too large to
#: represent as this; longer waits are clamped to it, so the result stays a
#: small finite float however many digits the host sends.
MAX_RETRY_AFTER = float(2**31)

# A delta-seconds of more digits than this (leading zeros aside) is above
# MAX_RETRY_AFTER; clamping by length spares int() its 4300-digit limit.
_DIGITS = len(str(2**31))
# Offsets a real zone can have; parsedate_tz reads "+99999999" as 41 days.
_DAY = 24 * 3600
# Field values are trimmed of optional whitespace, which is SP or HTAB only
# (RFC 9110 §5.5); str.strip() would also drop Unicode spaces.
_OWS = " \t"
# What parsedate_tz and datetime raise on input they cannot take: a 20-digit
# year overflows a C int, day 31 of February is out of range, and so on.
_BAD_DATE = (ValueError, OverflowError, TypeError, IndexError)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header value, or None if unreadable.

    The value is delta-seconds (ASCII digits only, as RFC 9110 §10.2.3 has it:
    not "1e3", "-5", "²" or "٣") or an HTTP-date; a date in the past gives 0.0.
    A date without a zone, or with one parsedate_tz does not know, is read as
    UTC: HTTP dates are always UTC, and the asctime form carries no zone.
    `now` is the current `time.time()` (for tests). The result is None or a
    finite float from 0.0 to `MAX_RETRY_AFTER`; nothing raises.
    """
    if not isinstance(value, str):
        return None  # None, or a caller that broke the signature
    text = value.strip(_OWS)
    if not text:
        return None
    if text.isascii() and text.isdigit():
        digits = text.lstrip("0")
        if len(digits) > _DIGITS:
            return MAX_RETRY_AFTER
        return min(float(int(digits or "0")), MAX_RETRY_AFTER)
    when = _http_date(text)
    if when is None:
        return None
    delay = when - (time.time() if now is None else now)
    if math.isnan(delay):
        return None  # only from a `now` that is nan
    return min(max(delay, 0.0), MAX_RETRY_AFTER)


def _http_date(text: str) -> float | None:
    """The POSIX time of an HTTP-date (any of its three forms), or None."""
    try:
        parts = parsedate_tz(text)
        if parts is None:
            return None
        year, month, day, hour, minute, second = parts[:6]
        # datetime checks every field's range; 60 is a leap second (RFC 5322).
        when = datetime(
            year, month, day, hour, minute, min(second, 59), tzinfo=timezone.utc
        )
    except _BAD_DATE:
        return None
    offset = parts[9] or 0
    if abs(offset) >= _DAY:
        return None
    return when.timestamp() - offset
