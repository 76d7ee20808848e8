"""manage.py backfill_kpis: a range of days, a progress bar, resumable, clear errors."""

from __future__ import annotations

import re
from datetime import date, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from clinicops.core.models import Clinic
from clinicops.kpis import registry
from clinicops.kpis.models import MetricDay
from clinicops.kpis.registry import Metric

from .conftest import Source

pytestmark = pytest.mark.django_db

START, END = date(2026, 1, 5), date(2026, 1, 11)


def backfill(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("backfill_kpis", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_rolls_up_every_clinic_day_in_the_range_with_a_progress_bar(
    clinic: Clinic, other_clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    source.put(clinic, START, "no_show_rate", (1, 8))

    out, err = backfill("--from", "2026-01-05", "--to", "2026-01-11")

    assert "Rolled up 14 clinic-day(s)" in out
    assert "0 already current" in out
    assert "14/14" in err  # tqdm's bar
    assert MetricDay.objects.count() == 14 * len(metrics)
    row = MetricDay.objects.get(clinic=clinic, key="no_show_rate", day=START)
    assert (row.numerator, row.denominator) == (1, 8)


def test_a_second_run_skips_what_is_current_and_resumes_what_is_not(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    # given: an earlier backfill stopped after three days
    backfill("--from", "2026-01-05", "--to", "2026-01-07", "--clinic", str(clinic.pk))
    calls = source.calls

    # when: run again over the whole week
    out, _ = backfill("--from", "2026-01-05", "--to", "2026-01-11", "--clinic", str(clinic.pk))

    # then: only the four missing days were computed
    assert "Rolled up 4 clinic-day(s)" in out
    assert "3 already current, skipped" in out
    reads_source = [m for m in metrics if m.key != "new_patients_female_share"]
    assert source.calls - calls == 4 * len(reads_source)
    assert MetricDay.objects.count() == 7 * len(metrics)


def test_force_recomputes_current_days(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    backfill("--from", "2026-01-05", "--to", "2026-01-06", "--clinic", str(clinic.pk))
    source.put(clinic, START, "no_show_rate", (2, 9))

    out, _ = backfill(
        "--from", "2026-01-05", "--to", "2026-01-06", "--clinic", str(clinic.pk), "--force"
    )

    assert "Rolled up 2 clinic-day(s)" in out
    row = MetricDay.objects.get(clinic=clinic, key="no_show_rate", day=START)
    assert (row.numerator, row.denominator) == (2, 9)


def test_a_metric_registered_later_makes_its_days_stale(
    clinic: Clinic, source: Source, metrics: list[Metric]
) -> None:
    backfill("--from", "2026-01-05", "--to", "2026-01-06", "--clinic", str(clinic.pk))
    registry.register(
        Metric(
            key="walk_in_share", label="Walk-in share", unit="percent", compute=lambda c, d: (1, 2)
        )
    )

    out, _ = backfill("--from", "2026-01-05", "--to", "2026-01-06", "--clinic", str(clinic.pk))

    assert "Rolled up 2 clinic-day(s)" in out
    assert MetricDay.objects.filter(key="walk_in_share").count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-13-01", "--to", "2026-01-11"], "“2026-13-01” is not a date"),
        (["--from", "2026-01-11", "--to", "2026-01-05"], "--to (2026-01-05) is before --from"),
        (["--from", "2026-01-05", "--to", "2999-01-01"], "is in the future"),
        (["--from", "2026-01-05", "--to", "2026-01-11", "--clinic", "999999"], "no active clinic"),
    ],
)
def test_bad_arguments_are_refused_clearly_and_change_nothing(
    clinic: Clinic, metrics: list[Metric], args: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=re.escape(message)):
        backfill(*args)
    assert not MetricDay.objects.exists()


def test_a_future_range_end_of_tomorrow_is_allowed(clinic: Clinic, metrics: list[Metric]) -> None:
    today = date.today()  # noqa: DTZ011 - the command's own bound is UTC's date plus one
    out, _ = backfill(
        "--from",
        (today - timedelta(days=1)).isoformat(),
        "--to",
        today.isoformat(),
        "--clinic",
        str(clinic.pk),
    )
    assert "Rolled up 2 clinic-day(s)" in out


def test_nothing_registered_is_an_error(clinic: Clinic) -> None:
    with registry.swapped(), pytest.raises(CommandError, match="No metrics are registered"):
        backfill("--from", "2026-01-05", "--to", "2026-01-11")
