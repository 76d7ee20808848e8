"""`manage.py seed_kpis_history`: twelve weeks of dashboard for the demo clinics (DEMO DATA).

Run by seed_demo after the apps' seeders. It rolls up the last twelve weeks of each demo clinic
through `backfill_kpis` (called by name; resumable, so a second run recomputes only the days
whose data changed) and, for a clinic whose manager has not chosen dashboard metrics yet,
chooses four through `services.choose_metrics`. A clinic's own choice is never overwritten.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db.models import Sum

from clinicops.core import roles
from clinicops.core.demo import CLINICS
from clinicops.core.models import Clinic, Staff
from clinicops.kpis import registry, services
from clinicops.kpis.models import ClinicMetricChoice, MetricDay
from clinicops.kpis.selectors import WEEKS_SHOWN, week_start

# The demo manager's four: access, the template, supplies' cost and their availability.
DEMO_METRICS = ("no_show_rate", "template_utilization", "supply_cost_per_visit", "stockout_rate")
# For a metric without a default target (supply cost per visit): aim a little below baseline.
BASELINE_AIM = Decimal("0.95")


class Command(BaseCommand):
    help = (
        "Roll up the demo clinics' last 12 weeks of KPIs and choose their dashboard metrics "
        "(DEMO DATA). Idempotent."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        # seed_demo passes its seed to every seeder; the rollup is not random.
        parser.add_argument("--seed", type=int, default=0, help="Ignored (nothing random here).")

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = int(options.get("verbosity", 1))
        clinics = Clinic.objects.filter(
            name__in=[spec.name for spec in CLINICS], is_active=True
        ).order_by("pk")
        if not registry.all_metrics():
            self.stdout.write("No metrics are registered: no KPI history to seed.")
            return
        for clinic in clinics:
            yesterday = clinic.today() - timedelta(days=1)
            first = week_start(clinic.today()) - timedelta(weeks=WEEKS_SHOWN)
            call_command(
                "backfill_kpis",
                start=first.isoformat(),
                end=yesterday.isoformat(),
                clinic=clinic.pk,
                verbosity=verbosity,
                stdout=self.stdout,
                stderr=self.stderr,
            )
            chosen = self.choose(clinic, first=first)
            if chosen:
                self.stdout.write(f"{clinic}: dashboard shows {', '.join(chosen)}.")

    def choose(self, clinic: Clinic, *, first: Any) -> list[str]:
        """Choose the demo metrics for a clinic that has none chosen; return their keys."""
        if ClinicMetricChoice.objects.filter(clinic=clinic).exists():
            return []
        owner = (
            Staff.objects.filter(clinics=clinic, user__groups__name=roles.MANAGER)
            .order_by("pk")
            .first()
        )
        if owner is None:
            self.stdout.write(f"{clinic}: no manager to own the dashboard metrics; none chosen.")
            return []
        keys = [key for key in DEMO_METRICS if _registered(key)]
        keys += [m.key for m in registry.all_metrics() if m.key not in keys][
            : max(0, services.MIN_CHOSEN - len(keys))
        ]
        choices = []
        for key in keys[: services.MAX_CHOSEN]:
            metric = registry.get(key)
            target: Decimal | None = None
            high: Decimal | None = None
            if metric.target_band:
                target, high = (Decimal(str(v)) for v in metric.target_band)
            elif metric.default_target is None:
                target = _baseline(clinic, key, first=first)
            choices.append(
                services.MetricChoiceInput(key=key, target=target, target_high=high, owner=owner)
            )
        if len(choices) < services.MIN_CHOSEN:
            return []
        services.choose_metrics(actor=owner.user, clinic=clinic, choices=choices)
        return [choice.key for choice in choices]


def _registered(key: str) -> bool:
    try:
        registry.get(key)
    except KeyError:
        return False
    return True


def _baseline(clinic: Clinic, key: str, *, first: Any) -> Decimal:
    """A target just under the clinic's figure over the rolled-up weeks (1 when it has none)."""
    totals = MetricDay.objects.filter(clinic=clinic, key=key, day__gte=first).aggregate(
        numerator=Sum("numerator"), denominator=Sum("denominator")
    )
    numerator, denominator = totals["numerator"], totals["denominator"]
    if not numerator or not denominator:
        return Decimal(1)
    return (Decimal(numerator) / Decimal(denominator) * BASELINE_AIM).quantize(Decimal("0.01"))
