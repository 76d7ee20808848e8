"""Demo compliance data for every clinic: a few flags (one anonymous, one resolved, one naming a
patient), written through the services so each is audited; then the audit trail is sealed.
Idempotent: a clinic that has flags already is left alone."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from clinicops.audit import sealer
from clinicops.core import roles
from clinicops.core.models import Clinic, Patient, User
from compliance import flags
from compliance.models import Flag

DEMO_FLAGS = [
    # description, urgency, page, anonymous, names a patient, (status, reply) or None
    (
        "Saline flushes in the Exam 2 cart are past their expiry date.",
        "high",
        "/supplies/use/",
        False,
        False,
        None,
    ),
    (
        "A colleague left a workstation signed in at the front desk over lunch.",
        "normal",
        "/",
        True,
        False,
        None,
    ),
    (
        "The patient's allergy list does not match what they told me at check-in.",
        "urgent",
        "/patients/",
        False,
        True,
        ("in_progress", "Checking with the provider; the chart is being corrected."),
    ),
    (
        "The sharps bin in the procedure room is overfull.",
        "normal",
        "/supplies/use/",
        False,
        False,
        ("resolved", "Bin replaced and the weekly pick-up moved to Mondays."),
    ),
]


class Command(BaseCommand):
    help = "Create demo flags for each clinic (audited), then seal the audit trail."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=17)

    def handle(self, *args: Any, seed: int, **options: Any) -> None:
        made = 0
        for clinic in Clinic.objects.order_by("pk"):
            if Flag.objects.filter(clinic=clinic).exists():
                continue
            staff = User.objects.filter(staff__clinics=clinic, is_active=True)
            nurse = staff.filter(groups__name=roles.NURSE).order_by("pk").first()
            officer = staff.filter(groups__name=roles.COMPLIANCE).order_by("pk").first()
            reporter = nurse or staff.order_by("pk").first()
            if reporter is None:
                continue
            patient = Patient.objects.filter(clinic=clinic).order_by("pk").first()
            for description, urgency, page, anonymous, names_patient, outcome in DEMO_FLAGS:
                flag = flags.flag_problem(
                    reporter=reporter,
                    clinic=clinic,
                    description=description,
                    urgency=urgency,
                    patient=patient if names_patient else None,
                    page=page,
                    anonymous=anonymous,
                )
                made += 1
                if outcome and officer is not None:
                    flags.update_flag(
                        actor=officer, flag=flag, status=outcome[0], response=outcome[1]
                    )
        sealed = sealer.seal_pending()
        self.stdout.write(f"Created {made} demo flags; sealed {sealed.sealed} audit events.")
