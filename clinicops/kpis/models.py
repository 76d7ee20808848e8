"""KPI storage: each clinic-day's parts per metric, and each clinic's chosen dashboard metrics."""

from __future__ import annotations

from datetime import time

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Now

from clinicops.core.models import Clinic, ClinicScopedQuerySet, Staff

PARTS_DIGITS = {"max_digits": 24, "decimal_places": 6}


class MetricDay(models.Model):
    """The parts of one metric for one clinic and one local day, as the rollup last computed them.

    A row with a zero denominator means "computed, no data" (a closed day); a missing row means
    "not computed yet". Periods are recomputed from these parts, never from daily figures.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="metric_days")
    key = models.CharField(max_length=64)
    day = models.DateField(help_text="The clinic's local date.")
    numerator = models.DecimalField(**PARTS_DIGITS, default=0)
    denominator = models.DecimalField(**PARTS_DIGITS, default=0)
    # The raw values behind a median (or a mean of means), and for a mean of means the group
    # (provider) of each value, pairwise.
    values = ArrayField(models.FloatField(), default=list, blank=True)
    groups = ArrayField(models.BigIntegerField(), default=list, blank=True)
    computed_at = models.DateTimeField()

    objects = ClinicScopedQuerySet["MetricDay"].as_manager()

    class Meta:
        ordering = ["clinic", "key", "day"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "key", "day"], name="one_metric_day"),
            models.CheckConstraint(
                condition=models.Q(denominator__gte=0), name="metricday_denominator_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} {self.day} ({self.clinic_id}): {self.numerator}/{self.denominator}"


DEFAULT_MEASURE_TIME = time(7)


class KpiSettings(models.Model):
    """A clinic's KPI measurement settings (a clinic without a row uses the defaults)."""

    clinic = models.OneToOneField(Clinic, on_delete=models.CASCADE, related_name="kpi_settings")
    measure_time = models.TimeField(
        default=DEFAULT_MEASURE_TIME,
        help_text="Local time each morning at which point-in-time metrics (third next "
        "available) are measured, from the booking history as it stood then.",
    )

    class Meta:
        verbose_name = "KPI settings"
        verbose_name_plural = "KPI settings"

    def __str__(self) -> str:
        return f"KPI settings of clinic {self.clinic_id}"

    @classmethod
    def measure_time_of(cls, clinic: Clinic | int) -> time:
        """The clinic's measurement time, or the default (07:00) when it has set none."""
        clinic_id = clinic if isinstance(clinic, int) else clinic.pk
        found = cls.objects.filter(clinic_id=clinic_id).values_list("measure_time", flat=True)
        return next(iter(found), DEFAULT_MEASURE_TIME)


class ClinicMetricChoice(models.Model):
    """One of the three to five metrics a clinic's manager chose for the weekly dashboard.

    The 3-5 rule spans rows, so `services.choose_metrics` enforces it, replacing a clinic's
    whole set at once under a lock on the clinic.
    """

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="metric_choices")
    key = models.CharField(max_length=64)
    position = models.PositiveSmallIntegerField()
    target = models.DecimalField(max_digits=14, decimal_places=4)
    target_high = models.DecimalField(
        max_digits=14,
        decimal_places=4,
        null=True,
        blank=True,
        help_text="Band metrics only: the target is the band from `target` to this.",
    )
    alert_threshold = models.DecimalField(
        max_digits=14,
        decimal_places=4,
        help_text="Past this the tile turns to alert; for a band metric, how far outside it.",
    )
    owner = models.ForeignKey(
        Staff, on_delete=models.SET_NULL, null=True, blank=True, related_name="owned_metrics"
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClinicScopedQuerySet["ClinicMetricChoice"].as_manager()

    class Meta:
        ordering = ["clinic", "position"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "key"], name="one_choice_per_metric"),
            models.UniqueConstraint(fields=["clinic", "position"], name="one_choice_per_position"),
            models.CheckConstraint(
                condition=models.Q(target_high__isnull=True)
                | models.Q(target_high__gte=models.F("target")),
                name="choice_band_not_upside_down",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} #{self.position} ({self.clinic_id})"


class SentDigest(models.Model):
    """A clinic's weekly digest email, sent once: the unique (clinic, week) is what makes a
    retried or duplicated task send nothing twice (`digest.send_weekly_digest`)."""

    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="sent_digests")
    week_start = models.DateField(help_text="The Monday of the (clinic-local) week reported.")
    sent_at = models.DateTimeField()
    recipients = ArrayField(models.CharField(max_length=254), default=list, blank=True)
    subject = models.CharField(max_length=200)

    objects = ClinicScopedQuerySet["SentDigest"].as_manager()

    class Meta:
        ordering = ["clinic", "-week_start"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "week_start"], name="one_digest_per_week"),
        ]

    def __str__(self) -> str:
        return f"Digest {self.week_start} ({self.clinic_id})"


class ChangedDay(models.Model):
    """A mark that a clinic's past local day had its source data changed after the fact.

    Written by Postgres triggers on every registered metric's source tables (`changes.py`), so
    a queryset update, a bulk_create, the admin or raw SQL all leave one; the nightly run
    re-rolls the marked days, whatever their age, and the rollup of a day deletes the marks it
    read before computing. Append-only (no unique key): two writers never wait on each other
    for a mark. `onward` marks the day and every day after it (a ledger's running balance).
    """

    clinic = models.ForeignKey(
        Clinic, on_delete=models.CASCADE, related_name="kpi_changed_days", db_constraint=False
    )
    day = models.DateField(help_text="The clinic's local date whose data changed.")
    onward = models.BooleanField(default=False, help_text="And every later day too.")
    marked_at = models.DateTimeField(db_default=Now())

    class Meta:
        ordering = ["clinic", "day"]
        indexes = [
            models.Index(fields=["clinic", "day"], name="kpis_changed_clinic_day"),
            # A rollup's own marks (`changes.marks_for`): the single-day ones of its days,
            # without visiting the onward marks the nightly run has not spread yet.
            models.Index(
                fields=["clinic", "day"],
                condition=models.Q(onward=False),
                name="kpis_changed_single_day",
            ),
        ]

    def __str__(self) -> str:
        return f"changed {self.day}{'+' if self.onward else ''} ({self.clinic_id})"
