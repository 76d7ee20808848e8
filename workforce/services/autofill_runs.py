"""Auto-fill runs: build the solver's problem from the database, run it (in a Celery task or a
command), keep the proposal, and apply it whole or a day at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone

from clinicops.audit import audit
from clinicops.core.models import Staff
from clinicops.core.servicekit import user_or_none, works_at

from .. import autofill, coverage, rules
from ..models import Assignment, AutofillRun, RosterWeek, ShiftTemplate
from .weeks import RosterError, add_assignment


@dataclass
class Built:
    problem: autofill.Problem
    data: rules.WeekData
    bands: list[coverage.Band]


def build(week: RosterWeek, *, band_minutes: int = 60) -> Built:
    data = rules.load_week(week)
    bands, need = coverage.load_demand(week.clinic_id, data.days, data.tz, band_minutes)
    templates = [
        autofill.TemplateIn(
            t.pk,
            t.name,
            t.role,
            t.start_time,
            t.end_time,
            t.overnight,
            t.break_minutes,
            frozenset(t.weekdays),
        )
        for t in ShiftTemplate.objects.filter(clinic_id=week.clinic_id, is_active=True)
    ]
    sources = dict(Assignment.objects.filter(week=week).values_list("pk", "source"))
    template_of = dict(Assignment.objects.filter(week=week).values_list("pk", "template_id"))
    existing = [
        (
            s,
            template_of[int(s.key[1:])],
            int(s.key[1:]),
            sources[int(s.key[1:])] == Assignment.Source.MANAGER,
        )
        for s in data.shifts
    ]
    candidates = autofill.make_candidates(
        templates=templates,
        people=data.people,
        days=data.days,
        clinic_id=week.clinic_id,
        tz=data.tz,
        late_after=data.late_after,
        existing=existing,
        absences=data.absences,
        context=data.context,
        limits=data.limits,
    )
    problem = autofill.Problem(
        people=data.people,
        candidates=candidates,
        need=need,
        limits=data.limits,
        days=data.days,
        context=data.context,
        templates=templates,
    )
    return Built(problem, data, bands)


def summarise(built: Built, outcome: autofill.Outcome) -> dict[str, Any]:
    """The proposal as stored: what to add and remove, the objective, and what stays short."""
    data = built.data
    tz = data.tz
    names = {p.staff_id: p.name for p in data.people}
    chosen_keys = {c.shift.key for c in outcome.chosen}
    before = list(data.shifts)
    after = [c.shift for c in outcome.chosen]
    filled_before = coverage.fill(built.problem.need, coverage.rostered(before, built.bands))
    filled_after = coverage.fill(built.problem.need, coverage.rostered(after, built.bands))
    remaining = rules.check(
        after,
        people=data.people,
        limits=data.limits,
        absences=data.absences,
        context=data.context,
        week_days=data.days,
        tz=tz,
    )
    add = [
        {
            "staff_id": c.shift.staff_id,
            "staff": names.get(c.shift.staff_id, str(c.shift.staff_id)),
            "template_id": c.template_id,
            "template": c.shift.label,
            "day": c.shift.day.isoformat(),
            "start": f"{c.shift.start.astimezone(tz):%H:%M}",
            "end": f"{c.shift.end.astimezone(tz):%H:%M}",
        }
        for c in outcome.chosen
        if c.existing_id is None
    ]
    remove = [
        {
            "assignment_id": c.existing_id,
            "staff": names.get(c.shift.staff_id, str(c.shift.staff_id)),
            "template": c.shift.label,
            "day": c.shift.day.isoformat(),
        }
        for c in built.problem.candidates
        if c.existing_id is not None and c.shift.key not in chosen_keys
    ]
    return {
        "status": outcome.status,
        "optimal": outcome.optimal,
        "gap": outcome.gap_text,
        "objective": [
            [name, value]
            for name, value in zip(autofill.OBJECTIVES, outcome.objective, strict=False)
        ],
        "first_feasible_seconds": outcome.first_feasible_seconds,
        "seconds": round(outcome.seconds, 2),
        "filled_before": list(filled_before),
        "filled_after": list(filled_after),
        "violations": [v.message for v in remaining],
        "add": add,
        "remove": remove,
        "uncovered": [u.message for u in outcome.uncovered],
        "candidates": len(built.problem.candidates),
    }


def start(*, actor: Any, week: RosterWeek, time_limit: int = 10) -> AutofillRun:
    if not works_at(actor, week.clinic_id):
        raise RosterError("You do not work at this clinic.")
    if not 1 <= time_limit <= 120:
        raise RosterError("The time limit is 1 to 120 seconds.")
    return AutofillRun.objects.create(
        week=week, time_limit_seconds=time_limit, requested_by=user_or_none(actor)
    )


def execute(run_id: int) -> AutofillRun:
    """Solve the run's week and keep the proposal (the task and the command call this)."""
    run = AutofillRun.objects.select_related("week__clinic").get(pk=run_id)
    AutofillRun.objects.filter(pk=run.pk).update(status=AutofillRun.Status.RUNNING)
    last = [0.0]

    def progress(info: dict[str, object]) -> None:
        now = timezone.now().timestamp()
        if now - last[0] >= 0.5:
            last[0] = now
            AutofillRun.objects.filter(pk=run.pk).update(progress=info)

    try:
        built = build(run.week)
        if not built.problem.people:
            raise RosterError("No staff with a roster contract work at this clinic.")
        outcome = autofill.solve(
            built.problem, time_limit=run.time_limit_seconds, progress=progress
        )
        result = summarise(built, outcome)
    except RosterError as exc:
        AutofillRun.objects.filter(pk=run.pk).update(
            status=AutofillRun.Status.FAILED, error=str(exc)[:300], finished_at=timezone.now()
        )
    else:
        last_stage = (
            len(outcome.objective) - 1 if outcome.stage_stopped is None else outcome.stage_stopped
        )
        final = {
            "stage": last_stage,
            "objective": autofill.OBJECTIVES[last_stage],
            "value": outcome.objective[last_stage] if outcome.objective else None,
            "bound": outcome.bound[last_stage] if outcome.bound else None,
            "seconds": round(outcome.seconds, 2),
        }
        AutofillRun.objects.filter(pk=run.pk).update(
            status=AutofillRun.Status.DONE,
            result=result,
            progress=final,
            finished_at=timezone.now(),
        )
    run.refresh_from_db()
    return run


def apply(*, actor: Any, run: AutofillRun, days: list[date] | None = None) -> tuple[int, int]:
    """Apply the proposal (only `days`, when given): returns (added, removed). All or nothing."""
    if not works_at(actor, run.week.clinic_id):
        raise RosterError("You do not work at this clinic.")
    if run.status != AutofillRun.Status.DONE:
        raise RosterError("This proposal is not ready, or was already applied or discarded.")
    wanted = {d.isoformat() for d in days} if days is not None else None
    added = removed = 0
    with transaction.atomic():
        locked = AutofillRun.objects.select_for_update().get(pk=run.pk)
        if locked.status != AutofillRun.Status.DONE:
            raise RosterError("This proposal was already applied or discarded.")
        week = locked.week
        for item in locked.result.get("remove", []):
            if wanted is not None and item["day"] not in wanted:
                continue
            deleted, _ = Assignment.objects.filter(
                pk=item["assignment_id"], week=week, source=Assignment.Source.AUTOFILL
            ).delete()
            removed += deleted
        templates = {t.pk: t for t in ShiftTemplate.objects.filter(clinic_id=week.clinic_id)}
        staff = {
            s.pk: s for s in Staff.objects.filter(clinics=week.clinic_id).select_related("user")
        }
        for item in locked.result.get("add", []):
            if wanted is not None and item["day"] not in wanted:
                continue
            person = staff.get(item["staff_id"])
            template = templates.get(item["template_id"])
            if person is None or template is None:
                raise RosterError("The proposal names a person or shift no longer at this clinic.")
            add_assignment(
                actor=actor,
                week=week,
                staff=person,
                template=template,
                day=date.fromisoformat(item["day"]),
                source=Assignment.Source.AUTOFILL,
            )
            added += 1
        if wanted is None or wanted >= {i["day"] for i in locked.result.get("add", [])} | {
            i["day"] for i in locked.result.get("remove", [])
        }:
            locked.status = AutofillRun.Status.APPLIED
        else:
            # Applied in part: drop the applied days from the proposal, keep the rest.
            result = dict(locked.result)
            result["add"] = [i for i in result.get("add", []) if i["day"] not in wanted]
            result["remove"] = [i for i in result.get("remove", []) if i["day"] not in wanted]
            locked.result = result
        locked.save(update_fields=["status", "result"])
        audit.record(
            actor=actor,
            action="update",
            obj=locked,
            clinic=week.clinic_id,
            summary=f"Applied auto-fill to {week}: {added} added, {removed} removed",
        )
    return added, removed


def discard(*, actor: Any, run: AutofillRun) -> None:
    if not works_at(actor, run.week.clinic_id):
        raise RosterError("You do not work at this clinic.")
    AutofillRun.objects.filter(pk=run.pk, status=AutofillRun.Status.DONE).update(
        status=AutofillRun.Status.DISCARDED
    )
