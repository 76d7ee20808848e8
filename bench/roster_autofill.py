"""Roster auto-fill: a 60-person clinic group, 4 roles, one week, 15-minute demand bands.

    .venv/bin/python bench/roster_autofill.py [--time-limit 10] [--people 60] [--workers 2]

Pure: the solver runs on plain data (no database rows; Django is set up only for imports).
Demand per role and 15-minute band follows a clinic day (a morning peak, a lunch dip, an
afternoon peak; Saturdays mornings only), scaled so the staff can just about meet it. Each role
has four shift templates (early, day, late, and a Saturday morning), with starts on the quarter
hour. Prints, for the full model (every hard rule, four lexicographic objectives): the number of
candidate shifts, time to the first feasible roster, time to proven optimal or the gap at the
time limit, and the objective. The floor, measured in the same run, is CP-SAT on the same
candidates with the coverage objective only and no rules: the ratio is what the rules and the
lexicographic stages cost.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
import zoneinfo
from datetime import date, timedelta
from datetime import time as clock
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--time-limit", type=float, default=10.0)
    parser.add_argument("--people", type=int, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clinicops.settings")
    os.environ.setdefault("DJANGO_DEBUG", "1")
    import django

    django.setup()
    from ortools.sat.python import cp_model

    from workforce import autofill, coverage
    from workforce.rules import Limits, Person

    rng = random.Random(args.seed)
    tz = zoneinfo.ZoneInfo("America/New_York")
    monday = date(2027, 3, 1)
    days = [monday + timedelta(days=i) for i in range(7)]
    roles = {"front_desk": 0.25, "ma": 0.35, "rn": 0.2, "provider": 0.2}
    people: list[Person] = []
    pid = 1
    for role, share in roles.items():
        for _ in range(round(args.people * share)):
            also = {"front_desk"} if role == "ma" and rng.random() < 0.3 else set()
            hours = rng.choice([24, 32, 40, 40, 40])
            people.append(Person(pid, f"P{pid}", frozenset({role, *also}), hours * 60))
            pid += 1
    templates = []
    tid = 1
    for role in roles:
        offset = rng.choice([0, 15, 30, 45])
        for name, start, end, weekdays in (
            ("early", (7, offset), (15, offset), range(5)),
            ("day", (8, 30), (17, 0), range(5)),
            ("late", (11, offset), (19, 45), range(5)),
            ("saturday", (8, 0), (13, 0), [5]),
        ):
            templates.append(
                autofill.TemplateIn(
                    tid,
                    f"{role} {name}",
                    role,
                    clock(*start),
                    clock(*end),
                    False,
                    30 if name != "saturday" else 0,
                    frozenset(weekdays),
                )
            )
            tid += 1
    bands = coverage.bands_for(days, tz, 15)
    need: dict[tuple[str, coverage.Band], int] = {}
    for role in roles:
        staff = sum(1 for p in people if role in p.roles)
        for band in bands:
            t = band.local_start.hour + band.local_start.minute / 60
            weekday = band.day.weekday()
            if weekday == 6 or not 7.5 <= t < 19.5 or (weekday == 5 and not 8 <= t < 13):
                continue
            curve = (
                0.5 + 0.35 * math.exp(-((t - 10) ** 2) / 3) + 0.3 * math.exp(-((t - 15) ** 2) / 3)
            )
            if weekday == 5:
                curve = 0.35
            n = max(1, round(staff * 0.42 * curve))
            need[(role, band)] = n
    started = time.perf_counter()
    candidates = autofill.make_candidates(
        templates=templates,
        people=people,
        days=days,
        clinic_id=1,
        tz=tz,
        late_after=clock(18),
        limits=Limits(),
    )
    problem = autofill.Problem(people, candidates, need, Limits(), days, [], templates)
    built = time.perf_counter() - started

    # The floor: coverage only, no rules, one objective.
    floor_model = cp_model.CpModel()
    x = [floor_model.new_bool_var(f"x{i}") for i in range(len(candidates))]
    shorts = []
    for (role, band), n in need.items():
        cov = [
            x[i]
            for i, c in enumerate(candidates)
            if c.shift.role == role and coverage.covers(c.shift, band)
        ]
        u = floor_model.new_int_var(0, n, "u")
        floor_model.add(u + sum(cov) >= n)
        shorts.append(u)
    floor_model.minimize(sum(shorts))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = args.time_limit
    solver.parameters.num_search_workers = args.workers
    t0 = time.perf_counter()
    solver.solve(floor_model)
    floor = time.perf_counter() - t0

    outcome = autofill.solve(problem, time_limit=args.time_limit, workers=args.workers)
    required = sum(need.values())
    shape = f"{len(people)} people, {len(roles)} roles, {len(templates)} templates"
    print(f"| {shape}, {len(bands)} bands of 15 min | value |")
    print("|---|---|")
    print(f"| candidate shifts (person x template x day) | {len(candidates)} |")
    print(f"| required person-bands | {required} |")
    print(f"| building the candidates | {built * 1000:.0f} ms |")
    first = outcome.first_feasible_seconds
    print(
        f"| time to first feasible roster | {first:.2f} s |"
        if first is not None
        else "| first feasible | none |"
    )
    print(f"| total solve ({outcome.status}) | {outcome.seconds:.2f} s |")
    print(f"| result | {outcome.gap_text} |")
    print(f"| objective ({', '.join(autofill.OBJECTIVES)}) | {outcome.objective} |")
    print(f"| floor: coverage only, no rules (CP-SAT, optimal) | {floor:.2f} s |")
    print(f"| ratio: full / floor | {outcome.seconds / floor:.1f}x |")
    if first is not None:
        print(f"| ratio: first feasible / floor | {first / floor:.2f}x |")
    return 0 if outcome.chosen else 1


if __name__ == "__main__":
    raise SystemExit(main())
