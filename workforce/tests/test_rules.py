"""The rule checker on hand-made cases: pure data, no database."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from workforce import rules
from workforce.models import local_span
from workforce.rules import Absence, Limits, Person, Shift

NY = zoneinfo.ZoneInfo("America/New_York")
MON = dt.date(2027, 3, 1)
ANA = Person(1, "Ana Lee", frozenset({"front_desk"}), 40 * 60)
BO = Person(2, "Bo Chen", frozenset({"ma", "front_desk"}), 40 * 60)


def shift(
    key: str,
    day: dt.date,
    start: str,
    end: str,
    *,
    staff: int = 1,
    role: str = "front_desk",
    clinic: int = 1,
    overnight: bool = False,
    brk: int = 0,
) -> Shift:
    s, e = local_span(day, dt.time.fromisoformat(start), dt.time.fromisoformat(end), overnight, NY)
    return Shift(key, staff, clinic, role, day, s, e, brk, f"{start}-{end}")


def check(shifts: list[Shift], **kw: object) -> list[rules.Violation]:
    kw.setdefault("people", [ANA, BO])
    kw.setdefault("limits", Limits())
    kw.setdefault("tz", NY)
    return rules.check(shifts, **kw)  # type: ignore[arg-type]


def kinds(found: list[rules.Violation]) -> list[str]:
    return [v.rule for v in found]


def test_a_clean_week_has_no_violations() -> None:
    week = [shift(f"s{i}", MON + dt.timedelta(days=i), "08:00", "16:00", brk=30) for i in range(5)]
    assert check(week) == []


def test_overlap_across_clinics_is_found_in_plain_words() -> None:
    here = shift("a", MON, "08:00", "16:00")
    there = shift("b", MON, "15:00", "19:00", clinic=2)
    found = check([here], context=[there])
    assert kinds(found) == ["overlap"]
    assert "two shifts at once" in found[0].message
    assert "another clinic" in found[0].message
    assert "Ana Lee" in found[0].message


def test_context_alone_is_not_reported() -> None:
    a = shift("a", MON, "08:00", "16:00", clinic=2)
    b = shift("b", MON, "15:00", "19:00", clinic=2)
    assert check([], context=[a, b]) == []


def test_minimum_rest_default_ten_hours() -> None:
    late = shift("a", MON, "14:00", "22:00")
    early = shift("b", MON + dt.timedelta(days=1), "07:00", "15:00")
    found = check([late, early])
    assert kinds(found) == ["rest"]
    assert "only 9 h rest" in found[0].message
    assert "minimum 10 h" in found[0].message
    # Exactly ten hours is enough.
    ok = shift("b", MON + dt.timedelta(days=1), "08:00", "16:00")
    assert check([late, ok]) == []
    # Configurable.
    assert check([late, early], limits=Limits(min_rest_minutes=9 * 60)) == []


def test_max_hours_a_day_counts_paid_time() -> None:
    a = shift("a", MON, "06:00", "14:00")
    b = shift("b", MON, "14:00", "19:00")  # back to back: no rest rule break? it is 0 h rest
    found = check([a, b], limits=Limits(min_rest_minutes=0, max_day_minutes=12 * 60))
    assert kinds(found) == ["day_hours"]
    assert "13 h on Mon 1 Mar" in found[0].message
    with_break = shift("b", MON, "14:00", "19:00", brk=60)
    assert check([a, with_break], limits=Limits(min_rest_minutes=0)) == []


def test_max_hours_a_week() -> None:
    week = [shift(f"s{i}", MON + dt.timedelta(days=i), "07:00", "17:00") for i in range(5)]
    days = [MON + dt.timedelta(days=i) for i in range(7)]
    found = check(week, limits=Limits(max_week_minutes=45 * 60), week_days=days)
    assert kinds(found) == ["week_hours"]
    assert "50 h" in found[0].message
    assert "limit 45 h a week" in found[0].message
    assert check(week, week_days=days, limits=Limits(max_week_minutes=50 * 60)) == []


def test_max_consecutive_days_reaches_into_the_week_before() -> None:
    before = [shift(f"p{i}", MON - dt.timedelta(days=i), "08:00", "16:00") for i in (1, 2, 3)]
    this = [shift(f"s{i}", MON + dt.timedelta(days=i), "08:00", "16:00") for i in range(4)]
    found = check(this, context=before, limits=Limits(max_consecutive_days=6))
    assert kinds(found) == ["consecutive"]
    assert "7 days in a row" in found[0].message
    assert check(this[:3], context=before, limits=Limits(max_consecutive_days=6)) == []


def test_role_must_match() -> None:
    found = check([shift("a", MON, "08:00", "16:00", role="rn")])
    assert kinds(found) == ["role"]
    assert "not rostered as registered nurse" in found[0].message
    assert check([shift("a", MON, "08:00", "16:00", staff=2, role="ma")]) == []


def test_time_off_and_unavailability() -> None:
    a = shift("a", MON, "08:00", "16:00")
    off = Absence(1, *local_span(MON, dt.time(0), dt.time(0), True, NY), "on approved time off")
    found = check([a], absences=[off])
    assert kinds(found) == ["absence"]
    assert "on approved time off" in found[0].message
    school = Absence(
        1, *local_span(MON, dt.time(15), dt.time(17), False, NY), "unavailable (school run)"
    )
    assert "unavailable (school run)" in check([a], absences=[school])[0].message
    evening = Absence(1, *local_span(MON, dt.time(16), dt.time(18), False, NY), "unavailable")
    assert check([a], absences=[evening]) == []  # ends as the shift ends


def test_credential_rule_is_pluggable() -> None:
    a = shift("a", MON, "08:00", "16:00")

    def needs_bls(s: Shift, p: Person) -> str | None:
        return f"{p.name} has no valid BLS on {s.day}." if p.staff_id == 1 else None

    rules.register_credential_rule(needs_bls)
    try:
        found = check([a])
    finally:
        rules.unregister_credential_rule(needs_bls)
    assert kinds(found) == ["credential"]
    assert check([a]) == []


def test_overnight_shift_on_the_spring_forward_night_is_seven_hours() -> None:
    sat = dt.date(2027, 3, 13)  # clocks go forward at 02:00 on Sunday 14 March 2027
    night = shift("n", sat, "22:00", "06:00", overnight=True)
    assert night.paid_minutes == 7 * 60
    # 06:00 -> 15:00 the same Sunday is 9 real hours: too little rest.
    sunday = shift("d", sat + dt.timedelta(days=1), "15:00", "23:00")
    found = check([night, sunday])
    assert kinds(found) == ["rest"]
    assert "only 9 h rest" in found[0].message
    # 06:00 -> 16:00 is ten.
    assert check([night, shift("d", sat + dt.timedelta(days=1), "16:00", "23:00")]) == []


def test_overnight_shift_on_the_fall_back_night_is_nine_hours() -> None:
    sat = dt.date(2027, 11, 6)  # clocks go back at 02:00 on Sunday 7 November 2027
    night = shift("n", sat, "22:00", "06:00", overnight=True)
    assert night.paid_minutes == 9 * 60
    found = check([night], limits=Limits(max_day_minutes=8 * 60 + 30))
    assert kinds(found) == ["day_hours"]
    assert "9 h on Sat 6 Nov" in found[0].message
    # The same shift a week earlier is eight hours and fine.
    assert (
        check(
            [shift("n", sat - dt.timedelta(days=7), "22:00", "06:00", overnight=True)],
            limits=Limits(max_day_minutes=8 * 60 + 30),
        )
        == []
    )


def test_overnight_overlap_into_the_next_day() -> None:
    night = shift("n", MON, "22:00", "06:00", overnight=True)
    early = shift("e", MON + dt.timedelta(days=1), "05:00", "13:00")
    assert "overlap" in kinds(check([night, early]))


@pytest.mark.parametrize("minutes", [599, 600])
def test_rest_boundary(minutes: int) -> None:
    a = shift("a", MON, "08:00", "12:00")
    start = a.end + dt.timedelta(minutes=minutes)
    b = Shift("b", 1, 1, "front_desk", MON, start, start + dt.timedelta(hours=2))
    assert (kinds(check([a, b])) == ["rest"]) is (minutes < 600)
