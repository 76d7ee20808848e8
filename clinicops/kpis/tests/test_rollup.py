"""The rollup: every registered metric of a clinic-day, replaced atomically and idempotently."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from clinicops.core.models import Clinic, Patient
from clinicops.core.tests.factories import ClinicFactory, PatientFactory
from clinicops.kpis import registry, services
from clinicops.kpis.models import MetricDay
from clinicops.kpis.registry import Metric, Unit

from .conftest import Source, catalogue, new_patients_female_share

pytestmark = pytest.mark.django_db

DAY = date(2026, 2, 3)
FIELDS = ("id", "clinic_id", "key", "day", "numerator", "denominator", "values", "groups")


def snapshot(clinic: Clinic) -> list[tuple[object, ...]]:
    return list(MetricDay.objects.filter(clinic=clinic).order_by("key", "day").values_list(*FIELDS))


def test_a_clinic_day_holds_one_row_per_registered_metric(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    source.put(clinic, DAY, "no_show_rate", (2, 25))
    source.put(clinic, DAY, "door_to_provider_min", [14, 22.5])
    source.put(clinic, DAY, "tnaa_days", [(3, 4), (5, 9)])

    written = services.rollup_clinic_day(clinic_id=clinic.pk, day=DAY)

    assert written == len(metrics)
    rows = {r.key: r for r in MetricDay.objects.filter(clinic=clinic, day=DAY)}
    assert set(rows) == {m.key for m in metrics}
    assert (rows["no_show_rate"].numerator, rows["no_show_rate"].denominator) == (2, 25)
    assert rows["door_to_provider_min"].values == [14.0, 22.5]
    assert rows["tnaa_days"].values == [4.0, 9.0]
    assert rows["tnaa_days"].groups == [3, 5]
    # a day without data is stored as "computed, no data"
    assert (rows["clean_claim_rate"].numerator, rows["clean_claim_rate"].denominator) == (0, 0)


def test_rolling_up_twice_leaves_identical_rows(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    source.put(clinic, DAY, "no_show_rate", (2, 25))
    source.put(clinic, DAY, "supply_cost_per_visit", (Decimal("123.4567"), 9))
    source.put(clinic, DAY, "door_to_provider_min", [14, 22.5])

    services.rollup_clinic_day(clinic_id=clinic.pk, day=DAY)
    first = snapshot(clinic)
    services.rollup_clinic_day(clinic_id=clinic.pk, day=DAY)

    assert snapshot(clinic) == first
    assert MetricDay.objects.filter(clinic=clinic).count() == len(metrics)


def test_late_data_replaces_the_days_parts(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    source.put(clinic, DAY, "no_show_rate", (2, 25))
    services.rollup_clinic_day(clinic_id=clinic.pk, day=DAY)
    source.put(clinic, DAY, "no_show_rate", (3, 26))  # a correction, days later

    services.rollup_clinic_day(clinic_id=clinic.pk, day=DAY)

    row = MetricDay.objects.get(clinic=clinic, day=DAY, key="no_show_rate")
    assert (row.numerator, row.denominator) == (3, 26)


def test_a_crash_mid_rollup_leaves_the_previous_rows(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    # given: the day rolled up once
    source.put(clinic, DAY, "no_show_rate", (2, 25))
    services.rollup_clinic_day(clinic_id=clinic.pk, day=DAY)
    before = snapshot(clinic)
    computed_at = set(MetricDay.objects.values_list("computed_at", flat=True))

    # when: new data arrives, and a metric computed after no_show_rate fails
    source.put(clinic, DAY, "no_show_rate", (7, 25))
    source.fail_on = (clinic.pk, DAY)
    with pytest.raises(RuntimeError, match="went away"):
        services.rollup_clinic_day(clinic_id=clinic.pk, day=DAY)

    # then: not half a day: every row is as it was, no_show_rate included
    assert snapshot(clinic) == before
    assert set(MetricDay.objects.values_list("computed_at", flat=True)) == computed_at


def test_an_inactive_or_missing_clinic_rolls_up_nothing(
    clinic: Clinic, metrics: list[Metric]
) -> None:
    Clinic.objects.filter(pk=clinic.pk).update(is_active=False)
    assert services.rollup_clinic_day(clinic_id=clinic.pk, day=DAY) == 0
    assert services.rollup_clinic_day(clinic_id=999_999, day=DAY) == 0
    assert not MetricDay.objects.exists()


def test_a_newly_registered_metric_appears_at_the_next_rollup(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    services.rollup_clinic_day(clinic_id=clinic.pk, day=DAY)
    late = Metric(
        key="walk_in_share", label="Walk-in share", unit=Unit.PERCENT, compute=lambda c, d: (1, 4)
    )
    registry.register(late)

    services.rollup_clinic_day(clinic_id=clinic.pk, day=DAY)

    row = MetricDay.objects.get(clinic=clinic, day=DAY, key="walk_in_share")
    assert (row.numerator, row.denominator) == (1, 4)


def test_stale_days_are_the_missing_the_early_and_the_changed(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    days = [DAY + timedelta(days=i) for i in range(4)]
    services.rollup_clinic_days(clinic=clinic, days=days[:3])
    # day 0: current. day 1: computed before its local day ended. day 3: never computed.
    end_of_day_1 = registry.day_bounds(clinic, days[1])[1]
    MetricDay.objects.filter(day=days[1]).update(computed_at=end_of_day_1 - timedelta(minutes=1))
    # day 2: a metric that knows its data changed after the rollup
    changed = timezone.now() + timedelta(seconds=1)
    registry.unregister("no_show_rate")
    registry.register(
        Metric(
            key="no_show_rate",
            label="No-show rate",
            unit=Unit.PERCENT,
            compute=lambda c, d: (0, 0),
            last_changed=lambda c, d: changed if d == days[2] else None,
        )
    )

    assert services.stale_days(clinic=clinic, start=days[0], end=days[3]) == days[1:]


@pytest.mark.django_db(transaction=True)
def test_concurrent_rollups_of_one_day_both_succeed(clinic: Clinic, source: Source) -> None:
    source.put(clinic, DAY, "no_show_rate", (2, 25))
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        try:
            barrier.wait()
            services.rollup_clinic_day(clinic_id=clinic.pk, day=DAY)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    with registry.swapped(catalogue(source)):
        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    assert MetricDay.objects.filter(clinic=clinic).count() == len(catalogue(source))


def test_a_range_function_is_called_once_per_run_of_consecutive_days(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    calls: list[tuple[date, date]] = []

    def per_day(c: Clinic, d: date) -> tuple[int, int]:
        return (d.day % 3, 10) if d.weekday() < 5 else (0, 0)

    def per_range(c: Clinic, first: date, last: date) -> dict[date, tuple[int, int]]:
        calls.append((first, last))
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        return {d: per_day(c, d) for d in days if d.weekday() < 5}  # weekends: no entry

    ranged = Metric(
        key="ranged", label="Ranged", unit=Unit.PERCENT, compute=per_day, compute_range=per_range
    )
    days = [DAY + timedelta(days=i) for i in (*range(10), 12, 13)]
    with registry.swapped([ranged]):
        services.rollup_clinic_days(clinic=clinic, days=days)

    assert calls == [(DAY, DAY + timedelta(days=9)), (DAY + timedelta(12), DAY + timedelta(13))]
    rows = {r.day: (r.numerator, r.denominator) for r in MetricDay.objects.filter(key="ranged")}
    assert rows == {d: per_day(clinic, d) for d in days}


def test_by_local_day_buckets_rows_on_the_clinics_dates_across_dst(
    metrics: list[Metric],
) -> None:
    clinic = ClinicFactory(name="Albany Clinic", time_zone="America/New_York")
    first, last = date(2026, 3, 6), date(2026, 3, 10)
    for day in [first + timedelta(days=i) for i in range(5)]:
        start, end = registry.day_bounds(clinic, day)
        for at in (start, start + timedelta(hours=12), end - timedelta(minutes=1)):
            Patient.objects.filter(pk=PatientFactory(clinic=clinic).pk).update(created_at=at)

    counted = registry.by_local_day(
        Patient.objects.filter(clinic=clinic),
        "created_at",
        clinic=clinic,
        first=first,
        last=last,
        n=Count("pk"),
    )

    assert counted == {first + timedelta(days=i): {"n": 3} for i in range(5)}
    # the same days, counted one at a time by the per-day metric function
    per_day = {d: {"n": new_patients_female_share(clinic, d)[1]} for d in counted}
    assert counted == per_day


def test_a_point_in_time_measurement_is_not_remeasured_by_the_trailing_window(
    clinic: Clinic,
) -> None:
    # TNAA on a day is the schedule as it stood that morning; days later it has filled up
    schedule = {"open_in_days": 4}
    tnaa = Metric(
        key="tnaa_days",
        label="TNAA",
        unit=Unit.DAYS,
        kind="mean_of_means",
        point_in_time=True,
        compute=lambda c, d: [(1, schedule["open_in_days"])],
    )
    with registry.swapped([tnaa]):
        services.rollup_clinic_day(clinic_id=clinic.pk, day=DAY)
        schedule["open_in_days"] = 11
        services.rollup_clinic_days(clinic=clinic, days=[DAY, DAY + timedelta(days=1)])

        rows = dict(MetricDay.objects.filter(key="tnaa_days").values_list("day", "values"))
        assert rows == {DAY: [4.0], DAY + timedelta(days=1): [11.0]}
        assert services.stale_days(clinic=clinic, start=DAY, end=DAY) == []

        services.rollup_clinic_days(clinic=clinic, days=[DAY], force=True)
        assert MetricDay.objects.get(key="tnaa_days", day=DAY).values == [11.0]
