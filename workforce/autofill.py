"""Auto-fill: propose a week's assignments with OR-Tools CP-SAT.

Every hard rule of `workforce.rules` is kept; then, lexicographically (each stage solved to
optimality, its value frozen, before the next): uncovered demand (person-bands short), minutes
over contract, unfairness (the most weekend/late shifts any one person works: lowering the peak
spreads them), and changes (an auto-filled assignment dropped or a new one added; a manager's own
assignments are fixed). Counting additions as changes is also what keeps the proposal from
adding shifts nobody needs.

Pure over plain data (`Problem` in, `Outcome` out); `build_problem` makes a Problem from the
rule loader's `WeekData`, the week's demand and the clinic's shift templates.
See docs/decisions/0023-roster-autofill.md.
"""

from __future__ import annotations

import time as clock
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, time, timedelta, tzinfo

from ortools.sat.python import cp_model

from .coverage import Band, covers
from .rules import _CREDENTIAL_RULES, ROLE_LABELS, Absence, Limits, Person, Shift, overlaps

OBJECTIVES = ("uncovered demand", "minutes over contract", "unfairness", "changes")


@dataclass(frozen=True)
class TemplateIn:
    id: int
    name: str
    role: str
    start: time
    end: time
    overnight: bool
    break_minutes: int
    weekdays: frozenset[int]


@dataclass(frozen=True)
class Candidate:
    shift: Shift
    template_id: int
    existing_id: int | None = None  # the assignment, when already assigned
    fixed: bool = False  # a manager's own assignment: stays as it is
    weekend_or_late: bool = False


@dataclass
class Problem:
    people: list[Person]
    candidates: list[Candidate]
    need: dict[tuple[str, Band], int]
    limits: Limits
    days: list[date]
    context: list[Shift] = field(default_factory=list)
    templates: list[TemplateIn] = field(default_factory=list)


@dataclass
class Uncovered:
    role: str
    band: Band
    need: int
    got: int
    reason: str

    @property
    def message(self) -> str:
        role = ROLE_LABELS.get(self.role, self.role)
        end = self.band.end - self.band.start + timedelta()
        return (
            f"{self.band.day:%a %d %b} {self.band.label} (+{int(end.total_seconds() // 60)} min), "
            f"{role}: needs {self.need}, {self.got} rostered; {self.reason}."
        )


@dataclass
class Outcome:
    chosen: list[Candidate]
    objective: tuple[int, ...]
    optimal: bool
    status: str  # "optimal", "feasible (time limit)", "no solution"
    bound: tuple[int, ...] = ()
    stage_stopped: int | None = None  # the stage the time limit stopped (when not optimal)
    first_feasible_seconds: float | None = None
    seconds: float = 0.0
    uncovered: list[Uncovered] = field(default_factory=list)

    @property
    def gap_text(self) -> str:
        if not self.objective:
            stage = self.stage_stopped or 0
            return (
                f"no roster found: the time limit stopped stage {stage + 1} "
                f"({OBJECTIVES[stage]}) before its first solution"
            )
        if self.optimal or self.stage_stopped is None:
            return "proven optimal"
        stage = self.stage_stopped
        return (
            f"not proven optimal: {OBJECTIVES[stage]} is {self.objective[stage]}, "
            f"the best bound {self.bound[stage]} (gap {self.objective[stage] - self.bound[stage]})"
        )


def is_weekend_or_late(shift: Shift, tz: tzinfo, late_after: time) -> bool:
    start = shift.start.astimezone(tz)
    end = shift.end.astimezone(tz)
    return start.weekday() >= 5 or end.date() > start.date() or end.time() > late_after


def make_candidates(
    *,
    templates: Sequence[TemplateIn],
    people: Sequence[Person],
    days: Sequence[date],
    clinic_id: int,
    tz: tzinfo,
    late_after: time,
    existing: Sequence[tuple[Shift, int, int, bool]] = (),  # (shift, template id, id, fixed)
    absences: Sequence[Absence] = (),
    context: Sequence[Shift] = (),
    limits: Limits | None = None,
) -> list[Candidate]:
    """Every (person, template, day) a person could work on its own: qualified, not off, not
    clashing with a fixed shift; plus what is already assigned (kept whatever it breaks)."""
    from .models import local_span

    limits = limits or Limits()

    out: list[Candidate] = []
    taken: set[tuple[int, int, date]] = set()
    fixed_shifts: list[Shift] = [*context]
    for shift, template_id, assignment_id, fixed in existing:
        out.append(
            Candidate(
                shift,
                template_id,
                assignment_id,
                fixed,
                is_weekend_or_late(shift, tz, late_after),
            )
        )
        taken.add((shift.staff_id, template_id, shift.day))
        if fixed:
            fixed_shifts.append(shift)
    by_person_fixed: dict[int, list[Shift]] = defaultdict(list)
    for shift in fixed_shifts:
        by_person_fixed[shift.staff_id].append(shift)
    by_person_absent: dict[int, list[Absence]] = defaultdict(list)
    for absence in absences:
        by_person_absent[absence.staff_id].append(absence)
    rest = timedelta(minutes=limits.min_rest_minutes)
    for day in days:
        for template in templates:
            if day.weekday() not in template.weekdays:
                continue
            start, end = local_span(day, template.start, template.end, template.overnight, tz)
            for person in people:
                if template.role not in person.roles:
                    continue
                if (person.staff_id, template.id, day) in taken:
                    continue
                shift = Shift(
                    key=f"c{person.staff_id}:{template.id}:{day.isoformat()}",
                    staff_id=person.staff_id,
                    clinic_id=clinic_id,
                    role=template.role,
                    day=day,
                    start=start,
                    end=end,
                    break_minutes=template.break_minutes,
                    label=template.name,
                )
                if shift.paid_minutes > limits.max_day_minutes:
                    continue
                if any(
                    overlaps(start, end, a.start, a.end) for a in by_person_absent[person.staff_id]
                ):
                    continue
                if any(
                    overlaps(start - rest, end + rest, f.start, f.end)
                    for f in by_person_fixed[person.staff_id]
                ):
                    continue
                if any(rule(shift, person) for rule in _CREDENTIAL_RULES):
                    continue
                out.append(
                    Candidate(
                        shift, template.id, None, False, is_weekend_or_late(shift, tz, late_after)
                    )
                )
    return out


Progress = Callable[[dict[str, object]], None]


class _Watcher(cp_model.CpSolverSolutionCallback):
    def __init__(self, started: float, stage: int, progress: Progress | None) -> None:
        super().__init__()
        self.started = started
        self.stage = stage
        self.progress = progress
        self.first: float | None = None

    def on_solution_callback(self) -> None:
        now = clock.perf_counter() - self.started
        if self.first is None:
            self.first = now
        if self.progress is not None:
            self.progress(
                {
                    "stage": self.stage,
                    "objective": OBJECTIVES[self.stage],
                    "value": int(self.objective_value),
                    "bound": int(self.best_objective_bound),
                    "seconds": round(now, 2),
                }
            )


def solve(
    problem: Problem,
    *,
    time_limit: float = 10.0,
    progress: Progress | None = None,
    workers: int = 2,
    parameters: Mapping[str, object] | None = None,
) -> Outcome:
    """Solve the four stages in turn within `time_limit` seconds (wall clock) in all.

    `parameters` are more CP-SAT parameters for every stage, e.g. a limit that does not depend
    on the machine's speed (`max_deterministic_time`, `stop_after_first_solution`): with one
    worker they make a stop before optimality repeatable, which a wall-clock limit is not.
    """
    started = clock.perf_counter()
    model = cp_model.CpModel()
    cands = problem.candidates
    limits = problem.limits
    x = [model.new_bool_var(f"x{i}") for i in range(len(cands))]
    for i, cand in enumerate(cands):
        if cand.fixed:
            model.add(x[i] == 1)

    by_person: dict[int, list[int]] = defaultdict(list)
    for i, cand in enumerate(cands):
        by_person[cand.shift.staff_id].append(i)
    context_by_person: dict[int, list[Shift]] = defaultdict(list)
    for shift in problem.context:
        context_by_person[shift.staff_id].append(shift)
    rest = timedelta(minutes=limits.min_rest_minutes)
    week = set(problem.days)

    for staff_id, idx in by_person.items():
        idx.sort(key=lambda i: cands[i].shift.start)
        # Overlap and rest: two shifts closer than the rest apart are never both worked.
        for a_pos, a in enumerate(idx):
            for b in idx[a_pos + 1 :]:
                sa, sb = cands[a].shift, cands[b].shift
                if sb.start >= sa.end + rest:
                    break
                if cands[a].fixed and cands[b].fixed:
                    continue
                model.add_bool_or([~x[a], ~x[b]])
        # Hours a day and a week (fixed and other clinics' shifts count; the limit stretches
        # only as far as fixed shifts already exceed it).
        context = context_by_person.get(staff_id, [])
        per_day: dict[date, list[int]] = defaultdict(list)
        for i in idx:
            per_day[cands[i].shift.day].append(i)
        for day, day_idx in per_day.items():
            const = sum(s.paid_minutes for s in context if s.day == day)
            fixed = sum(cands[i].shift.paid_minutes for i in day_idx if cands[i].fixed)
            model.add(
                sum(cands[i].shift.paid_minutes * x[i] for i in day_idx) + const
                <= max(limits.max_day_minutes, fixed + const)
            )
        week_const = sum(s.paid_minutes for s in context if s.day in week)
        week_fixed = sum(cands[i].shift.paid_minutes for i in idx if cands[i].fixed)
        model.add(
            sum(cands[i].shift.paid_minutes * x[i] for i in idx) + week_const
            <= max(limits.max_week_minutes, week_fixed + week_const)
        )
        # Consecutive days: any run of max+1 days has a day off.
        worked: dict[date, cp_model.IntVar | int] = {}
        context_days = {s.day for s in context}
        for day in problem.days:
            if day in context_days:
                worked[day] = 1
            elif per_day.get(day):
                y = model.new_bool_var(f"w{staff_id}_{day}")
                model.add_max_equality(y, [x[i] for i in per_day[day]])
                worked[day] = y
        for day in context_days - week:
            worked[day] = 1
        span = limits.max_consecutive_days
        first = problem.days[0] - timedelta(days=span)
        while first <= problem.days[-1]:
            window = [first + timedelta(days=k) for k in range(span + 1)]
            if week.intersection(window):
                terms = [worked[d] for d in window if d in worked]
                if len(terms) == span + 1:
                    forced = sum(
                        1
                        for d in window
                        if isinstance(worked[d], int)
                        or any(cands[i].fixed for i in per_day.get(d, []))
                    )
                    model.add(sum(terms) <= max(span, forced))
            first += timedelta(days=1)

    # Objective terms.
    shortfalls: list[tuple[tuple[str, Band], cp_model.IntVar, list[int]]] = []
    for (role, band), n in problem.need.items():
        covering = [
            i for i, c in enumerate(cands) if c.shift.role == role and covers(c.shift, band)
        ]
        u = model.new_int_var(0, n, f"u{role}{band.start:%m%d%H%M}")
        model.add(u + sum(x[i] for i in covering) >= n)
        shortfalls.append(((role, band), u, covering))
    uncovered = sum(u for _, u, _ in shortfalls)

    overs = []
    people = {p.staff_id: p for p in problem.people}
    for staff_id, idx in by_person.items():
        contract = people[staff_id].contract_minutes if staff_id in people else 0
        week_const = sum(
            s.paid_minutes for s in context_by_person.get(staff_id, []) if s.day in week
        )
        total = sum(cands[i].shift.paid_minutes * x[i] for i in idx) + week_const
        o = model.new_int_var(0, 7 * 24 * 60, f"o{staff_id}")
        model.add(o >= total - contract)
        overs.append(o)
    over = sum(overs)

    counts = []
    for staff_id, idx in by_person.items():
        heavy = [i for i in idx if cands[i].weekend_or_late]
        if heavy:
            k = model.new_int_var(0, len(heavy), f"k{staff_id}")
            model.add(k == sum(x[i] for i in heavy))
            counts.append(k)
    if counts:
        peak = model.new_int_var(0, len(cands), "peak")
        model.add_max_equality(peak, counts)
        unfair: cp_model.LinearExprT = peak
    else:
        unfair = 0
    # Changes: an existing (auto-filled) assignment dropped, or a new one added.
    changes = sum(
        (1 - x[i]) if c.existing_id is not None else x[i]
        for i, c in enumerate(cands)
        if not c.fixed
    )
    stages: list[cp_model.LinearExprT] = [uncovered, over, unfair, changes]

    solver = cp_model.CpSolver()
    solver.parameters.num_search_workers = workers
    for name, value in (parameters or {}).items():
        setattr(solver.parameters, name, value)
    values: list[int] = []
    bounds: list[int] = []
    optimal = True
    stage_stopped: int | None = None
    first_feasible: float | None = None
    last_solution: list[bool] | None = None
    for stage, expr in enumerate(stages):
        remaining = time_limit - (clock.perf_counter() - started)
        if remaining <= 0.05:
            optimal = False
            stage_stopped = stage_stopped if stage_stopped is not None else stage
            break
        model.minimize(expr)
        if last_solution is not None:
            model.clear_hints()  # type: ignore[no-untyped-call]
            for var, hint in zip(x, last_solution, strict=True):
                model.add_hint(var, hint)
        solver.parameters.max_time_in_seconds = remaining
        watcher = _Watcher(started, stage, progress)
        status = solver.solve(model, watcher)
        if first_feasible is None and watcher.first is not None:
            first_feasible = watcher.first
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            if last_solution is None:
                return Outcome(
                    chosen=[],
                    objective=(),
                    optimal=False,
                    status="no solution",
                    stage_stopped=stage,
                    seconds=clock.perf_counter() - started,
                )
            optimal = False
            stage_stopped = stage
            break
        last_solution = [bool(solver.value(v)) for v in x]
        value = round(solver.objective_value)
        bound = round(solver.best_objective_bound)
        values.append(value)
        bounds.append(bound)
        model.add(expr <= value)
        if status != cp_model.OPTIMAL:
            optimal = False
            stage_stopped = stage
            break
    if last_solution is None:  # pragma: no cover - every stage returned above
        raise RuntimeError("no solution")
    chosen = [c for c, on in zip(cands, last_solution, strict=True) if on]
    objective = objective_of(problem, chosen)
    while len(bounds) < len(objective):
        bounds.append(0)
    outcome = Outcome(
        chosen=chosen,
        objective=objective,
        optimal=optimal,
        status="optimal" if optimal else "feasible (time limit)",
        bound=tuple(bounds),
        stage_stopped=stage_stopped,
        first_feasible_seconds=first_feasible,
        seconds=clock.perf_counter() - started,
    )
    outcome.uncovered = explain_uncovered(problem, chosen)
    return outcome


def objective_of(problem: Problem, chosen: Sequence[Candidate]) -> tuple[int, int, int, int]:
    """The four objective values of a set of chosen candidates, computed directly."""
    shifts = [c.shift for c in chosen]
    short = 0
    for (role, band), n in problem.need.items():
        got = sum(1 for s in shifts if s.role == role and covers(s, band))
        short += max(0, n - got)
    week = set(problem.days)
    minutes: dict[int, int] = defaultdict(int)
    for s in [*shifts, *problem.context]:
        if s.day in week:
            minutes[s.staff_id] += s.paid_minutes
    contracts = {p.staff_id: p.contract_minutes for p in problem.people}
    by_person: set[int] = {c.shift.staff_id for c in problem.candidates}
    over = sum(max(0, minutes[p] - contracts.get(p, 0)) for p in by_person)
    heavy_people = {c.shift.staff_id for c in problem.candidates if c.weekend_or_late}
    counts = [
        sum(1 for c in chosen if c.weekend_or_late and c.shift.staff_id == p) for p in heavy_people
    ]
    unfair = max(counts) if counts else 0
    chosen_keys = {c.shift.key for c in chosen}
    changes = sum(
        1
        for c in problem.candidates
        if not c.fixed and (c.existing_id is not None) != (c.shift.key in chosen_keys)
    )
    return short, over, unfair, changes


def explain_uncovered(problem: Problem, chosen: Sequence[Candidate]) -> list[Uncovered]:
    """Each band left short, with why in plain words."""
    out: list[Uncovered] = []
    for (role, band), n in sorted(problem.need.items(), key=lambda kv: (kv[0][1].start, kv[0][0])):
        got = sum(1 for c in chosen if c.shift.role == role and covers(c.shift, band))
        if got >= n:
            continue
        could = {
            c.shift.staff_id
            for c in problem.candidates
            if c.shift.role == role and covers(c.shift, band)
        }
        label = ROLE_LABELS.get(role, role)
        if (
            not any(t.role == role and band.day.weekday() in t.weekdays for t in problem.templates)
            and not could
        ):
            reason = f"no {label} shift template runs then"
        elif len(could) < n:
            reason = (
                f"only {len(could)} {label}{'s' if len(could) != 1 else ''} could work a shift "
                f"through it (the others are not qualified, off, unavailable or working elsewhere)"
            )
        else:
            reason = "the rest, hours or consecutive-day limits of those who could leave it short"
        out.append(Uncovered(role, band, n, got, reason))
    return out
