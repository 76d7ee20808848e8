"""The KPI engine's writes: the rollup of clinic-days and a clinic's dashboard metrics."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, Staff

from . import changes, registry
from .models import ClinicMetricChoice, MetricDay
from .registry import Direction, Metric, Unit

MIN_CHOSEN = 3
MAX_CHOSEN = 5
# An upsert on the unique (clinic, key, day): every row of a rollup in one statement, from
# parallel arrays (the values and groups of a row as array literals). One statement rather
# than an executemany of one INSERT per row: for a year of a cheap metric the row-by-row
# upsert cost as much as computing the parts (docs/benchmarks.md). Each array goes as one text
# literal that the server parses: adapting a year's dates and decimals one by one on the client
# cost more than the statement itself. The late-change marks the rows answer are deleted by
# the same statement, so rows and marks commit together without a transaction around them
# (no BEGIN and COMMIT round trips: one statement is atomic on its own).
_UPSERT = """
WITH answered AS (DELETE FROM kpis_changedday WHERE id = ANY(%(marks)s::bigint[]))
INSERT INTO kpis_metricday
    (clinic_id, key, day, numerator, denominator, "values", groups, computed_at)
SELECT %(clinic)s, r.key, r.day, r.numerator, r.denominator, r.vals::float8[],
       r.grps::bigint[], %(at)s
FROM unnest(%(keys)s::text[], %(days)s::date[], %(numerators)s::numeric[],
            %(denominators)s::numeric[], %(values)s::text[], %(groups)s::text[])
     WITH ORDINALITY AS r(key, day, numerator, denominator, vals, grps, n)
ORDER BY r.n
ON CONFLICT (clinic_id, key, day) DO UPDATE SET
    numerator = EXCLUDED.numerator,
    denominator = EXCLUDED.denominator,
    "values" = EXCLUDED."values",
    groups = EXCLUDED.groups,
    computed_at = EXCLUDED.computed_at
"""


def _array_literal(numbers: Sequence[Any]) -> str:
    return "{" + ",".join(repr(n) for n in numbers) + "}"


def _text_array(items: Iterable[Any]) -> str:
    """A Postgres array literal of `items`' text forms, each quoted (so an element may itself
    be an array literal)."""
    texts = [str(item) for item in items]
    if any('"' in text or "\\" in text for text in texts):
        texts = [text.replace("\\", "\\\\").replace('"', '\\"') for text in texts]
    return '{"' + '","'.join(texts) + '"}' if texts else "{}"


def rollup_clinic_days(*, clinic: Clinic, days: Iterable[date], force: bool = False) -> int:
    """Compute every registered metric of `clinic` on `days` and replace their rows, atomically.

    Everything is computed before anything is written, so a failure in any metric leaves the
    previous rows as they were: never a half day. The rows are upserted (same ids, same values
    when nothing changed), so running it twice leaves identical rows and two concurrent runs of
    the same day cannot collide. `computed_at` is when the computation *started*: a change to
    the data after that instant is newer than the row (see `stale_days`). A point-in-time
    metric's existing rows are kept unless `force`.
    """
    days = sorted(set(days))
    started = timezone.now()
    metrics = registry.all_metrics()
    # The late-change marks of these days, read before computing: the rollup answers them. A
    # mark written while it computes is newer than what it saw, so it stays for the next run.
    marks = changes.marks_for(clinic=clinic, days=days)
    measured = _measured_days(clinic, [m for m in metrics if m.point_in_time], days, force)
    rows = [
        (
            metric.key,
            day,
            parts.numerator,
            parts.denominator,
            _array_literal(parts.values),
            _array_literal(parts.groups),
        )
        for metric in metrics
        for day, parts in metric.parts_for_days(
            clinic, [d for d in days if (metric.key, d) not in measured]
        ).items()
    ]
    # One order for every writer, so concurrent upserts of overlapping days cannot deadlock.
    rows.sort(key=lambda row: (row[0], row[1]))
    # The marks go with the rows that answer them, and also when there is nothing to write
    # (e.g. a point-in-time metric's kept day).
    if rows or marks:
        keys, row_days, numerators, denominators, values, groups = (
            map(_text_array, zip(*rows, strict=True)) if rows else ["{}"] * 6
        )
        with connection.cursor() as cursor:
            cursor.execute(
                _UPSERT,
                {
                    "marks": _text_array(marks),
                    "clinic": clinic.pk,
                    "at": started,
                    "keys": keys,
                    "days": row_days,
                    "numerators": numerators,
                    "denominators": denominators,
                    "values": values,
                    "groups": groups,
                },
            )
    return len(rows)


def _measured_days(
    clinic: Clinic, metrics: Sequence[Metric], days: Sequence[date], force: bool
) -> set[tuple[str, date]]:
    """(key, day) of the point-in-time metrics' rows that already exist (kept unless forced)."""
    if force or not metrics or not days:
        return set()
    return set(
        MetricDay.objects.filter(
            clinic=clinic, key__in=[m.key for m in metrics], day__in=days
        ).values_list("key", "day")
    )


def rollup_clinic_day(*, clinic_id: int, day: date) -> int:
    """The nightly unit of work: one clinic's whole local day, every metric (idempotent)."""
    clinic = Clinic.objects.filter(pk=clinic_id, is_active=True).first()
    if clinic is None:
        return 0
    return rollup_clinic_days(clinic=clinic, days=[day])


def stale_days(*, clinic: Clinic, start: date, end: date) -> list[date]:
    """The days in [start, end] a backfill must (re)compute; the others are already current.

    A clinic-day is current when every registered metric has a row for it that was computed
    after the clinic's local day had ended (so it saw the whole day) and, for metrics that can
    tell when their data last changed (`Metric.last_changed`), after that change too. A day
    whose source data changed after it was rolled up (a `ChangedDay` mark, which the
    database's triggers leave) is stale whatever its age. A point-in-time metric's row is
    current as soon as it exists.
    """
    metrics = registry.all_metrics()
    computed: dict[date, dict[str, datetime]] = defaultdict(dict)
    for day, key, at in MetricDay.objects.filter(
        clinic=clinic, day__gte=start, day__lte=end
    ).values_list("day", "key", "computed_at"):
        computed[day][key] = at
    changed = changes.marked(clinic=clinic, start=start, end=end)
    stale = []
    day = start
    while day <= end:
        if day in changed or not _is_current(clinic, day, metrics, computed.get(day, {})):
            stale.append(day)
        day += timedelta(days=1)
    return stale


def _is_current(
    clinic: Clinic, day: date, metrics: Sequence[Metric], computed: dict[str, datetime]
) -> bool:
    if any(metric.key not in computed for metric in metrics):
        return False
    day_end = registry.day_bounds(clinic, day)[1]
    for metric in metrics:
        at = computed[metric.key]
        if metric.point_in_time:
            continue  # measured once, whenever that was
        if at < day_end:
            return False
        if metric.last_changed is not None:
            changed = metric.last_changed(clinic, day)
            if changed is not None and changed >= at:
                return False
    return True


@dataclass(frozen=True)
class MetricChoiceInput:
    """What a manager sets for one chosen metric; unset targets take the metric's defaults."""

    key: str
    target: Decimal | int | str | None = None
    alert_threshold: Decimal | int | str | None = None
    owner: Staff | None = None
    target_high: Decimal | int | str | None = None


def _number(value: Any, *, label: str, field: str, errors: list[str]) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        errors.append(f"{label}: the {field} “{value}” is not a number.")
        return None
    if not number.is_finite() or abs(number) >= Decimal("1e10"):
        errors.append(f"{label}: the {field} “{value}” is not a usable number.")
        return None
    return number


def _validated_choice(
    choice: MetricChoiceInput, *, clinic: Clinic, errors: list[str]
) -> dict[str, Any] | None:
    try:
        metric = registry.get(choice.key)
    except KeyError:
        errors.append(f"“{choice.key}” is not a metric in the catalogue.")
        return None
    label = metric.label
    before = len(errors)
    target = _number(choice.target, label=label, field="target", errors=errors)
    alert = _number(choice.alert_threshold, label=label, field="alert threshold", errors=errors)
    high = _number(choice.target_high, label=label, field="upper target", errors=errors)
    if len(errors) > before:
        return None

    band = metric.direction == Direction.BAND
    if target is None:
        target = metric.default_target
    if band and high is None:
        high = metric.target_band[1] if choice.target is None and metric.target_band else target
    if target is None:
        errors.append(f"{label}: set a target (this metric has no default; use your baseline).")
        return None
    if alert is None:
        alert = metric.default_alert_threshold(target)

    for name, value in (("target", target), ("upper target", high), ("alert threshold", alert)):
        if value is None:
            continue
        if value < 0:
            errors.append(f"{label}: the {name} cannot be negative.")
        elif metric.unit == Unit.PERCENT and value > 100:
            errors.append(f"{label}: the {name} is a percentage, at most 100.")
    if band:
        if high is not None and high < target:
            errors.append(f"{label}: the upper target ({high}) is below the target ({target}).")
    elif metric.direction == Direction.LOWER and alert < target:
        errors.append(
            f"{label}: lower is better, so the alert threshold ({alert}) must be at or above "
            f"the target ({target})."
        )
    elif metric.direction == Direction.HIGHER and alert > target:
        errors.append(
            f"{label}: higher is better, so the alert threshold ({alert}) must be at or below "
            f"the target ({target})."
        )
    if choice.owner is None:
        errors.append(f"{label}: choose an owner.")
    elif not choice.owner.clinics.filter(pk=clinic.pk).exists():
        errors.append(f"{label}: the owner {choice.owner} does not work at {clinic}.")
    if len(errors) > before:
        return None
    return {
        "key": metric.key,
        "target": target,
        "target_high": high if band else None,
        "alert_threshold": alert,
        "owner": choice.owner,
    }


def _describe(choice: ClinicMetricChoice) -> dict[str, Any]:
    return {
        "key": choice.key,
        "target": choice.target,
        "target_high": choice.target_high,
        "alert_threshold": choice.alert_threshold,
        "owner": choice.owner_id,
    }


def choose_metrics(
    *, actor: Any, clinic: Clinic, choices: Sequence[MetricChoiceInput]
) -> list[ClinicMetricChoice]:
    """Replace the clinic's dashboard metrics with `choices` (3 to 5, in display order)."""
    errors: list[str] = []
    if len(choices) < MIN_CHOSEN:
        errors.append(f"Choose at least {MIN_CHOSEN} metrics (you chose {len(choices)}).")
    elif len(choices) > MAX_CHOSEN:
        errors.append(f"Choose at most {MAX_CHOSEN} metrics (you chose {len(choices)}).")
    keys = [c.key for c in choices]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        errors.append(f"Each metric can be chosen once: {', '.join(duplicates)} appears twice.")
    cleaned = [_validated_choice(c, clinic=clinic, errors=errors) for c in choices]
    if errors:
        raise ValidationError(errors)

    with transaction.atomic():
        # The clinic's row lock serialises two managers saving at once: the 3-5 rule spans rows.
        Clinic.objects.select_for_update().filter(pk=clinic.pk).first()
        before = [_describe(c) for c in ClinicMetricChoice.objects.filter(clinic=clinic)]
        ClinicMetricChoice.objects.filter(clinic=clinic).delete()
        created = ClinicMetricChoice.objects.bulk_create(
            ClinicMetricChoice(clinic=clinic, position=position, **values)
            for position, values in enumerate(cleaned, start=1)
            if values is not None
        )
        after = [_describe(c) for c in created]
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            object_type="kpis.clinicmetricchoice",
            object_id=clinic.pk,
            clinic=clinic,
            summary="Dashboard metrics: " + ", ".join(keys),
            changes={"metrics": [before, after]} if before != after else {},
        )
    return created


def record_drilldown(
    *,
    actor: Any,
    clinic: Clinic,
    metric: Metric,
    first: date,
    last: date,
    patient_ids: Sequence[int],
    rows: int,
    export: bool = False,
) -> None:
    """Audit a drill-down shown or exported: one entry per patient among its rows (so the
    who-saw-what search finds each of them), or one entry when it names no patient."""
    action = AuditEvent.Action.EXPORT if export else AuditEvent.Action.VIEW
    what = "exported" if export else "viewed"
    summary = f"KPI drill-down {what}: {metric.label}, {first:%Y-%m-%d} to {last:%Y-%m-%d}"
    changes = {"metric": metric.key, "first": first, "last": last, "rows": rows}
    with transaction.atomic():
        for patient_id in patient_ids or [None]:
            audit.record(
                actor=actor,
                action=action,
                object_type="kpis.drilldown",
                object_id=metric.key,
                patient=patient_id,
                clinic=clinic,
                summary=summary,
                changes=changes,
            )
