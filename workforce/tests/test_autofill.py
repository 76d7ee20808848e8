"""Auto-fill against brute force on small hand-made and random cases (no database), and a
stop before optimality (repeatable: a deterministic limit) as the result, command and page say."""

from __future__ import annotations

import datetime as dt
import functools
import random
import zoneinfo
from io import StringIO
from typing import Any

import pytest

from workforce import autofill, coverage, rules
from workforce.autofill import Candidate, Problem, TemplateIn
from workforce.rules import Limits, Person

NY = zoneinfo.ZoneInfo("America/New_York")
FRI = dt.date(2027, 3, 5)
DAYS = [FRI, FRI + dt.timedelta(days=1)]
EARLY = TemplateIn(
    1, "Early", "front_desk", dt.time(7), dt.time(15), False, 30, frozenset(range(7))
)
LATE = TemplateIn(2, "Late", "front_desk", dt.time(14), dt.time(22), False, 30, frozenset(range(7)))
MA_DAY = TemplateIn(3, "MA day", "ma", dt.time(8), dt.time(16), False, 0, frozenset(range(7)))


def problem(
    people: list[Person],
    fixed_rules: list[coverage.Rule],
    templates: list[TemplateIn],
    *,
    limits: Limits | None = None,
    existing: list[tuple[rules.Shift, int, int, bool]] | None = None,
    absences: list[rules.Absence] | None = None,
) -> Problem:
    limits = limits or Limits()
    bands = coverage.bands_for(DAYS, NY, 60)
    need = coverage.required(fixed_rules, bands, tz=NY)
    cands = autofill.make_candidates(
        templates=templates,
        people=people,
        days=DAYS,
        clinic_id=1,
        tz=NY,
        late_after=dt.time(16),
        existing=existing or [],
        absences=absences or [],
        limits=limits,
    )
    return Problem(people, cands, need, limits, DAYS, [], templates)


def brute_force(p: Problem) -> tuple[int, ...]:
    fixed = [c for c in p.candidates if c.fixed]
    free = [c for c in p.candidates if not c.fixed]
    best: tuple[int, ...] | None = None
    for mask in range(1 << len(free)):
        chosen = fixed + [c for i, c in enumerate(free) if mask >> i & 1]
        found = rules.check(
            [c.shift for c in chosen], people=p.people, limits=p.limits, week_days=p.days, tz=NY
        )
        if found:
            continue
        value = autofill.objective_of(p, chosen)
        if best is None or value < best:
            best = value
    assert best is not None
    return best


def solve_and_compare(p: Problem) -> autofill.Outcome:
    outcome = autofill.solve(p, time_limit=20, workers=1)
    assert outcome.optimal, outcome.gap_text
    assert (
        rules.check(
            [c.shift for c in outcome.chosen],
            people=p.people,
            limits=p.limits,
            week_days=p.days,
            tz=NY,
        )
        == []
    )
    assert outcome.objective == brute_force(p)
    assert outcome.objective == tuple(outcome.bound)  # the stages' proven values
    return outcome


def rule(role: str, start: int, end: int, count: int) -> coverage.Rule:
    return coverage.Rule(role, "fixed", frozenset(range(7)), dt.time(start), dt.time(end), count)


def test_hand_made_case_rest_contract_and_fairness() -> None:
    people = [
        Person(1, "Ana", frozenset({"front_desk"}), 8 * 60),
        Person(2, "Bo", frozenset({"front_desk", "ma"}), 16 * 60),
        Person(3, "Cy", frozenset({"ma"}), 16 * 60),
    ]
    p = problem(
        people,
        [rule("front_desk", 7, 22, 1), rule("ma", 8, 16, 1)],
        [EARLY, LATE, MA_DAY],
    )
    outcome = solve_and_compare(p)
    assert outcome.objective[0] == 0  # two front desk people can cover 07-22 both days


def test_short_demand_is_explained() -> None:
    people = [Person(1, "Ana", frozenset({"front_desk"}), 40 * 60)]
    p = problem(people, [rule("front_desk", 8, 10, 2), rule("rn", 9, 10, 1)], [EARLY])
    outcome = solve_and_compare(p)
    assert outcome.objective[0] == 2 * 2 + 2  # one person short for two hours, two days; no RN
    messages = [u.message for u in outcome.uncovered]
    assert any(
        "front desk: needs 2, 1 rostered; only 1 front desk could work" in m for m in messages
    )
    assert any(
        "registered nurse: needs 1, 0 rostered; no registered nurse shift template" in m
        for m in messages
    )


def test_managers_assignment_stays_and_changes_are_minimised() -> None:
    people = [
        Person(1, "Ana", frozenset({"front_desk"}), 40 * 60),
        Person(2, "Bo", frozenset({"front_desk"}), 40 * 60),
    ]
    base = problem(people, [rule("front_desk", 8, 12, 1)], [EARLY])
    by_key = {(c.shift.staff_id, c.shift.day): c for c in base.candidates}
    ana_fri = by_key[(1, FRI)].shift
    bo_sat = by_key[(2, DAYS[1])].shift
    existing = [
        (rules.Shift("a1", *list(ana_fri.__dict__.values())[1:]), 1, 101, True),  # manager's
        (rules.Shift("a2", *list(bo_sat.__dict__.values())[1:]), 1, 102, False),  # auto-filled
    ]
    p = problem(people, [rule("front_desk", 8, 12, 1)], [EARLY], existing=existing)
    outcome = solve_and_compare(p)
    keys = {c.shift.key for c in outcome.chosen}
    assert "a1" in keys
    assert "a2" in keys
    assert outcome.objective == (0, 0, 1, 0)  # Bo's Saturday is the one weekend shift


@pytest.mark.parametrize("seed", range(6))
def test_random_small_cases_match_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    roles_pool = ["front_desk", "ma"]
    people = [
        Person(
            i + 1,
            f"P{i}",
            frozenset(rng.sample(roles_pool, rng.choice([1, 2]))),
            rng.choice([8, 16, 24]) * 60,
        )
        for i in range(3)
    ]
    templates = rng.sample([EARLY, LATE, MA_DAY], 2)
    demand = [
        rule(rng.choice(roles_pool), s, s + rng.choice([2, 4]), rng.choice([1, 2]))
        for s in rng.sample([7, 9, 12, 15, 18], 2)
    ]
    limits = Limits(
        max_day_minutes=rng.choice([8 * 60, 12 * 60]), max_week_minutes=rng.choice([8, 16]) * 60
    )
    p = problem(people, demand, templates, limits=limits)
    assert len([c for c in p.candidates if not c.fixed]) <= 12
    solve_and_compare(p)


def test_the_first_objective_outranks_the_rest() -> None:
    """Covering demand beats staying within contract: the one person works over it."""
    people = [Person(1, "Ana", frozenset({"front_desk"}), 0)]
    p = problem(people, [rule("front_desk", 8, 12, 1)], [EARLY])
    outcome = solve_and_compare(p)
    assert outcome.objective[0] == 0
    assert outcome.objective[1] == 2 * (8 * 60 - 30)


def test_candidates_skip_what_a_person_cannot_work() -> None:
    people = [Person(1, "Ana", frozenset({"front_desk"}), 40 * 60)]
    off = rules.Absence(
        1,
        dt.datetime(2027, 3, 5, 5, tzinfo=dt.UTC),
        dt.datetime(2027, 3, 6, 5, tzinfo=dt.UTC),
        "off",
    )
    p = problem(people, [rule("front_desk", 8, 12, 1)], [EARLY, MA_DAY], absences=[off])
    assert [(c.shift.day, c.template_id) for c in p.candidates] == [(DAYS[1], 1)]
    assert isinstance(p.candidates[0], Candidate)


def test_spring_forward_overnight_shift_is_seven_hours_in_the_solver_too() -> None:
    """Saturday 13 March 2027 22:00 to Sunday 06:00 New York is 7 real hours: with a 7-hour
    day limit it may be worked, and a Sunday 15:00 shift is then 9 hours later (too little
    rest), so the solver takes one of the two, as the rule checker demands."""
    sat = dt.date(2027, 3, 13)
    days = [sat, sat + dt.timedelta(days=1)]
    night = TemplateIn(7, "Night", "rn", dt.time(22), dt.time(6), True, 0, frozenset({5}))
    evening = TemplateIn(8, "Evening", "rn", dt.time(15), dt.time(22), False, 0, frozenset({6}))
    people = [Person(1, "Nell", frozenset({"rn"}), 40 * 60)]
    limits = Limits(max_day_minutes=7 * 60)
    bands = coverage.bands_for(days, NY, 60)
    need = coverage.required(
        [coverage.Rule("rn", "fixed", frozenset({5, 6}), dt.time(0), dt.time(23), 1)], bands, tz=NY
    )
    cands = autofill.make_candidates(
        templates=[night, evening],
        people=people,
        days=days,
        clinic_id=1,
        tz=NY,
        late_after=dt.time(18),
        limits=limits,
    )
    assert sorted(c.shift.paid_minutes for c in cands) == [7 * 60, 7 * 60]
    p = Problem(people, cands, need, limits, days, [], [night, evening])
    outcome = autofill.solve(p, time_limit=10, workers=1)
    assert outcome.optimal
    assert len(outcome.chosen) == 1
    assert rules.check([c.shift for c in outcome.chosen], people=people, limits=limits, tz=NY) == []
    assert outcome.objective == brute_force(p)


# A stop before optimality, made repeatable: one worker and a limit CP-SAT counts in its own
# work, not in seconds (the wall-clock limit would stop at a different point on every run).
FIRST_SOLUTION_ONLY = {"stop_after_first_solution": True}


def eight_people_two_days() -> Problem:
    people = [
        Person(i, f"P{i}", frozenset({"front_desk", "ma"}), (8 + 8 * (i % 3)) * 60)
        for i in range(1, 9)
    ]
    return problem(
        people, [rule("front_desk", 7, 22, 2), rule("ma", 8, 16, 2)], [EARLY, LATE, MA_DAY]
    )


def test_a_stage_stopped_before_optimal_names_the_stage_and_its_gap() -> None:
    # given a case whose later stages take more than one solution to prove
    p = eight_people_two_days()
    # when every stage may only find its first solution
    outcome = autofill.solve(p, time_limit=30, workers=1, parameters=FIRST_SOLUTION_ONLY)
    # then the first stage is still proven (every band covered: its bound 0 is met), the second
    # stops short of its bound, and the result says so, as the run page and the command print it
    assert not outcome.optimal
    assert outcome.status == "feasible (time limit)"
    assert outcome.stage_stopped == 1
    assert outcome.objective[0] == outcome.bound[0] == 0
    value, bound = outcome.objective[1], outcome.bound[1]
    assert value > bound
    assert outcome.gap_text == (
        f"not proven optimal: minutes over contract is {value}, the best bound {bound} "
        f"(gap {value - bound})"
    )
    # The proposal still keeps every hard rule, and the run is repeatable.
    shifts = [c.shift for c in outcome.chosen]
    assert rules.check(shifts, people=p.people, limits=p.limits, week_days=p.days, tz=NY) == []
    again = autofill.solve(p, time_limit=30, workers=1, parameters=FIRST_SOLUTION_ONLY)
    assert (again.stage_stopped, again.objective, again.bound) == (
        outcome.stage_stopped,
        outcome.objective,
        outcome.bound,
    )
    # The gap was real: solved to the end, the over-contract minutes come down.
    full = autofill.solve(p, time_limit=30, workers=1)
    assert full.optimal, full.gap_text
    assert full.objective[1] < value


def test_no_solution_within_the_limit_says_so_not_proven_optimal() -> None:
    outcome = autofill.solve(
        eight_people_two_days(), time_limit=30, workers=1, parameters={"max_number_of_conflicts": 0}
    )
    assert (outcome.status, outcome.chosen, outcome.stage_stopped) == ("no solution", [], 0)
    assert outcome.gap_text == (
        "no roster found: the time limit stopped stage 1 (uncovered demand) before its first "
        "solution"
    )


@pytest.mark.django_db
def test_the_command_and_the_run_page_show_the_stage_stopped_and_the_gap(
    monkeypatch: pytest.MonkeyPatch,
    clinic: Any,
    manager: Any,
    desk: list[Any],
    early: Any,
    late: Any,
) -> None:
    from django.core.management import call_command
    from django.test import Client

    from workforce.models import AutofillRun, CoverageRule

    CoverageRule.objects.create(
        clinic=clinic,
        role="front_desk",
        kind="fixed",
        weekdays=list(range(7)),
        start_time=dt.time(7),
        end_time=dt.time(22),
        count=2,
    )
    # The runs the command and the screen start solve with the repeatable early stop.
    monkeypatch.setattr(
        autofill,
        "solve",
        functools.partial(autofill.solve, workers=1, parameters=FIRST_SOLUTION_ONLY),
    )
    out = StringIO()
    call_command(
        "autofill_roster", "--clinic", clinic.short_name, "--week", "2027-03-01", stdout=out
    )
    run = AutofillRun.objects.get()
    stage = run.progress["stage"]
    value, bound = run.progress["value"], run.progress["bound"]
    assert value > bound
    gap = (
        f"not proven optimal: {autofill.OBJECTIVES[stage]} is {value}, the best bound {bound} "
        f"(gap {value - bound})"
    )
    assert f"solver: feasible (time limit) ({gap}) in " in out.getvalue()
    client = Client()
    client.force_login(manager)
    page = client.get(f"/roster/autofill/{run.pk}/").content.decode()
    assert "Result: feasible (time limit)" in page
    assert f"Solver: {gap}, " in page
