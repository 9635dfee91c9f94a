"""`parse_retry_after`: whatever a host sends, None or a sane number of seconds."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jsonrest._retry_after import MAX_RETRY_AFTER, parse_retry_after

#: 2015-10-21 07:28:00 UTC, the date of the RFC examples, as POSIX time.
NOW = datetime(2015, 10, 21, 7, 28, tzinfo=timezone.utc).timestamp()


def sane(result: float | None) -> bool:
    """The whole contract: None, or finite seconds within the cap."""
    return result is None or (
        isinstance(result, float)
        and math.isfinite(result)
        and 0.0 <= result <= MAX_RETRY_AFTER
    )


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("007", 7.0),
        (" 120 ", 120.0),
        ("\t120\t", 120.0),
        ("2147483648", MAX_RETRY_AFTER),
        ("2147483649", MAX_RETRY_AFTER),
        ("9" * 5000, MAX_RETRY_AFTER),  # past int()'s 4300-digit limit
        ("0" * 5000 + "5", 5.0),
    ],
)
def test_delta_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "²",  # isdigit() but not a digit float() reads
        "٣",  # an Arabic-Indic three: a digit, but not an ASCII one
        "1e3",
        "-5",
        "+5",
        "1.5",
        "1 20",
        "\u00a0120",  # a no-break space is not optional whitespace
        "inf",
        "nan",
        "Wed, 21 Oct 12345678901234567890 07:28:00 GMT",  # a 20-digit year
        "Wed, 21 Oct 99999 07:28:00 GMT",
        "Wed, 31 Feb 2015 07:28:00 GMT",
        "Wed, 21 Oct 2015 25:28:00 GMT",
        "Wed, 21 Oct 2015 07:28:00 +99999999",
    ],
)
def test_unreadable_values_are_none(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # now
        ("Wed, 21 Oct 2015 07:30:00 GMT", 120.0),
        ("Wednesday, 21-Oct-15 07:30:00 GMT", 120.0),  # RFC 850 form
        ("Wed Oct 21 07:30:00 2015", 120.0),  # asctime form: no zone, UTC
        ("Wed, 21 Oct 2015 07:30:00", 120.0),  # no zone: HTTP dates are UTC
        ("Wed, 21 Oct 2015 09:30:00 +0200", 120.0),  # a zone is honoured
        ("  Wed, 21 Oct 2015 07:30:00 GMT  ", 120.0),
        ("Tue, 20 Oct 2015 07:28:00 GMT", 0.0),  # the past: go now
        ("Mon, 01 Jan 0001 00:00:00 GMT", 0.0),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
    ],
)
def test_http_dates(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_now_defaults_to_the_clock() -> None:
    when = datetime.now(timezone.utc) + timedelta(seconds=30)
    assert 25 < (parse_retry_after(format_datetime(when, usegmt=True)) or 0) <= 31


@pytest.mark.parametrize(
    ("now", "seconds"),
    [(math.inf, 0.0), (-math.inf, MAX_RETRY_AFTER), (math.nan, None)],
)
def test_a_strange_now_is_no_crash(now: float, seconds: float | None) -> None:
    assert parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now) == seconds


@given(st.text())
def test_any_text_gives_none_or_sane_seconds(value: str) -> None:
    assert sane(parse_retry_after(value, NOW))


# Header-ish values: the tokens of HTTP dates and numbers, in any order and
# length, so that the date parser's deeper branches see odd combinations.
_TOKENS = st.one_of(
    st.sampled_from(
        ["Wed,", "Wednesday,", "Oct", "oct", "GMT", "UTC", "EST", "-0000", "+0200"]
    ),
    st.sampled_from([" ", "  ", ",", ":", "-", "+", "\t"]),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.from_regex(r"\A[0-9]{1,3}:[0-9]{1,3}(:[0-9]{1,3})?\Z"),
    st.text(alphabet="0123456789²٣.-+eE", min_size=1, max_size=8),
)
_HEADERISH = st.lists(_TOKENS, max_size=12).map("".join)


@given(_HEADERISH, st.floats(allow_nan=True, allow_infinity=True))
def test_headerish_values_give_none_or_sane_seconds(value: str, now: float) -> None:
    assert sane(parse_retry_after(value, now))


@given(
    st.datetimes(timezones=st.just(timezone.utc)),
    st.sampled_from(["GMT", "UTC", "", "+0000", "-0130"]),
)
def test_any_date_is_read_back(when: datetime, zone: str) -> None:
    text = when.strftime(f"%a, %d %b %Y %H:%M:%S {zone}").strip()
    result = parse_retry_after(text, NOW)
    assert sane(result)
    assert result is not None or when.year < 1000  # parsedate_tz wants 4 digits


@given(st.integers(min_value=0, max_value=10**40))
def test_delta_seconds_are_the_number_capped(seconds: int) -> None:
    expected = float(min(seconds, 2**31))
    assert parse_retry_after(str(seconds), NOW) == expected
