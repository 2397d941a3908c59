"""Meter clocks: read in the meter's zone; the S/W flag only resolves the repeated autumn hour."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from p1lib import clock as clock_module
from p1lib.clock import EuropeanZone, MeterClock, clock_for, zone

EUROPEAN = (
    "Europe/Amsterdam",
    "Europe/Brussels",
    "Europe/Budapest",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/London",
    "Europe/Vilnius",
    "Europe/Helsinki",
)


def offset(clock: MeterClock, text: str) -> float | None:
    stamp = clock(text)
    if stamp is None:
        return None
    shift = stamp.utcoffset()
    assert shift is not None
    return shift.total_seconds() / 3600


def test_the_flag_only_resolves_the_repeated_autumn_hour() -> None:
    amsterdam = MeterClock("Europe/Amsterdam")
    assert offset(amsterdam, "231029023000S") == 2  # the first 02:30
    assert offset(amsterdam, "231029023000W") == 1  # the second 02:30
    assert offset(amsterdam, "231029023000") == 2  # no flag: the first
    assert offset(amsterdam, "231029013000W") == 2  # before the change: the flag is wrong
    assert offset(amsterdam, "231029033000S") == 1  # after it: wrong again


def test_a_flag_that_contradicts_the_date_changes_nothing() -> None:
    brussels = MeterClock("Europe/Brussels")
    # A Belgian capacity-tariff history entry: 1 March, flagged summer time.
    assert brussels("200301000000S") == datetime(2020, 2, 29, 23, tzinfo=UTC)
    assert brussels("200701000000W") == datetime(2020, 6, 30, 22, tzinfo=UTC)


def test_irish_time() -> None:
    dublin = MeterClock("Europe/Dublin")
    assert offset(dublin, "230701120000S") == 1
    assert offset(dublin, "230101120000W") == 0
    assert offset(dublin, "231029013000S") == 1
    assert offset(dublin, "231029013000W") == 0
    stamp = dublin("230701120000S")
    assert stamp is not None
    assert stamp.tzname() == "IST"


def test_lower_case_flags() -> None:
    clock = MeterClock("Europe/Amsterdam")
    assert clock("150701190000s") == clock("150701190000S")
    assert clock("231029023000w") == clock("231029023000W")


@pytest.mark.parametrize(
    "text",
    [
        "700101010000W",  # the placeholder of an empty M-Bus slot: the epoch, in CET
        "700101000000W",
        "991231235959S",
        "231302120000S",  # month 13
        "230230120000S",  # 30 February
        "230101246000W",
        "230101120060W",
        "2301011200x0W",
        "230101120\u00b200W",  # superscript two: a digit, not a decimal
        "2301011200\u0661\u0662W",  # Arabic-Indic digits
        "230101120000X",
        "23010112000",
        "230101120000SS",
        "",
    ],
)
def test_no_time(text: str) -> None:
    assert MeterClock("Europe/Amsterdam")(text) is None


def test_the_earliest_and_latest_times() -> None:
    clock = MeterClock("Europe/Amsterdam")
    assert clock("000101000001W") == datetime(1999, 12, 31, 23, 0, 1, tzinfo=UTC)
    assert clock("691231235959W") == datetime(2069, 12, 31, 22, 59, 59, tzinfo=UTC)


def test_the_difference_of_two_clocks_is_real_time_across_the_change() -> None:
    clock = MeterClock("Europe/Amsterdam")
    before, after = clock("231029025955S"), clock("231029020005W")
    assert before is not None
    assert after is not None
    assert after - before == timedelta(seconds=10)
    spring = clock("240331015955W"), clock("240331030005S")
    assert spring[0] is not None
    assert spring[1] is not None
    assert spring[1] - spring[0] == timedelta(seconds=10)


def test_iso_texts() -> None:
    clock = MeterClock("Europe/Vilnius")
    assert clock.iso["240214101735W"] == "2024-02-14T10:17:35+02:00"
    assert clock.iso["700101010000W"] == ""
    for second in range(300):  # bounded
        clock.iso[f"2402141017{second % 60:02d}W"]
    assert len(clock.iso) <= 256


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(EUROPEAN),
    moment=st.datetimes(datetime(2003, 1, 1), datetime(2037, 12, 31)),
    fold=st.integers(0, 1),
)
def test_the_fallback_rule_is_the_database(name: str, moment: datetime, fold: int) -> None:
    """Without a time zone database the EU rule gives what the database gives (2003-2037)."""
    database = zoneinfo.ZoneInfo(name)
    fallback = EuropeanZone(name, *clock_module._EUROPEAN[name])
    local = moment.replace(fold=fold)
    assert local.replace(tzinfo=fallback).utcoffset() == local.replace(tzinfo=database).utcoffset()
    assert local.replace(tzinfo=fallback).tzname() == local.replace(tzinfo=database).tzname()
    dst = local.replace(tzinfo=fallback).dst()
    assert dst in (timedelta(0), timedelta(hours=1))


@settings(max_examples=200, deadline=None)
@given(
    name=st.sampled_from(EUROPEAN),
    moment=st.datetimes(datetime(2003, 1, 1), datetime(2037, 12, 31)),
    flag=st.sampled_from(["", "S", "W", "s", "w"]),
)
def test_clocks_read_the_same_with_either(name: str, moment: datetime, flag: str) -> None:
    text = moment.strftime("%y%m%d%H%M%S") + flag
    database = MeterClock(name)
    fallback = MeterClock(name, EuropeanZone(name, *clock_module._EUROPEAN[name]))
    assert database(text) == fallback(text)
    stamp = database(text)
    assert stamp is not None
    assert stamp.replace(tzinfo=None) == moment.replace(microsecond=0)  # the wall time as sent


@settings(max_examples=100, deadline=None)
@given(texts=st.lists(st.tuples(st.integers(0, 120), st.sampled_from("SW")), max_size=40))
def test_the_minute_cache_changes_nothing(texts: list[tuple[int, str]]) -> None:
    cached = MeterClock("Europe/Budapest")
    for seconds, flag in texts:
        text = f"2310290{2 + seconds // 60:01d}{seconds % 60:02d}00{flag}"
        assert cached(text) == MeterClock("Europe/Budapest")(text), text


def test_zones_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert zone("UTC").utcoffset(None) == timedelta(0)
    assert isinstance(zone("Europe/Brussels"), zoneinfo.ZoneInfo)
    for bad in ("Mars/Olympus_Mons", "", "/etc/passwd", "Europe", "../Europe/Brussels"):
        with pytest.raises(ValueError, match="unknown time zone"):
            zone(bad)
    # No time zone database (Windows without tzdata): the European zones follow the EU rule.
    monkeypatch.setattr(clock_module, "_ZONES", {})

    def missing(key: str) -> zoneinfo.ZoneInfo:
        raise zoneinfo.ZoneInfoNotFoundError(key)

    monkeypatch.setattr(zoneinfo, "ZoneInfo", missing)
    fallback = zone("Europe/Dublin")
    assert isinstance(fallback, EuropeanZone)
    assert repr(fallback) == "EuropeanZone('Europe/Dublin')"
    assert fallback.utcoffset(None) == timedelta(0)
    assert fallback.tzname(datetime(2023, 7, 1)) == "IST"
    with pytest.raises(ValueError, match="unknown time zone"):
        zone("America/New_York")


def test_clocks_are_shared_by_name() -> None:
    assert clock_for("Europe/Vienna") is clock_for("Europe/Vienna")
    own = clock_for(zoneinfo.ZoneInfo("Europe/Vienna"))
    assert own.name == "Europe/Vienna"
    assert repr(own) == "MeterClock('Europe/Vienna')"
    assert own("230701120000S") == clock_for("Europe/Vienna")("230701120000S")
