"""Demo incidents for every clinic, one in each state (DEMO DATA), written through the services
so each step is audited; then back-dated so the closure metric and the monthly counts have a
history. Idempotent: a clinic that has incidents already is left alone."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from clinicops.audit import sealer
from clinicops.core import roles
from clinicops.core.models import Clinic, Patient, User
from compliance import incidents
from compliance.models import CorrectiveAction, Flag, Incident

# title, kind, category, harm, where, days ago it happened, final state
DEMO_INCIDENTS = [
    (
        "Patient given a look-alike vaccine vial, caught at the check",
        "near_miss",
        "medication",
        "not_reached",
        "Vaccine fridge, Exam 2",
        2,
        "reported",
    ),
    (
        "Specimen labelled with the previous patient's sticker",
        "incident",
        "identification",
        "no_harm",
        "Lab draw station",
        6,
        "triaged",
    ),
    (
        "Patient slipped on a wet floor in corridor B",
        "incident",
        "fall",
        "mild",
        "Corridor B",
        12,
        "investigating",
    ),
    (
        "Printed visit summary handed to the wrong patient",
        "incident",
        "privacy",
        "no_harm",
        "Front desk",
        25,
        "acting",
    ),
    (
        "Expired saline flushes found in use",
        "incident",
        "device",
        "no_harm",
        "Exam 2 cart",
        48,
        "closed",
    ),
    (
        "Fridge temperature log not filled in over a weekend",
        "unsafe_condition",
        "device",
        "not_reached",
        "Vaccine fridge",
        70,
        "closed_with_reason",
    ),
    (
        "Allergy missed at check-in; rash after amoxicillin",
        "incident",
        "medication",
        "moderate",
        "Exam 1",
        95,
        "reopened",
    ),
]


def _local(clinic: Clinic, days_ago: int, hour: int) -> datetime:
    day = clinic.today() - timedelta(days=days_ago)
    return datetime.combine(day, time(hour), tzinfo=clinic.tz)


class Command(BaseCommand):
    help = "Create demo incidents in every state for each clinic (audited), then seal the trail."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=17)

    def handle(self, *args: Any, seed: int, **options: Any) -> None:
        made = 0
        for clinic in Clinic.objects.order_by("pk"):
            if Incident.objects.filter(clinic=clinic).exists():
                continue
            staff = User.objects.filter(staff__clinics=clinic, is_active=True).order_by("pk")
            officer = staff.filter(groups__name=roles.COMPLIANCE).first()
            manager = staff.filter(groups__name=roles.MANAGER).first()
            if officer is None or manager is None:
                continue
            patient = Patient.objects.filter(clinic=clinic).order_by("pk").first()
            flag = Flag.objects.filter(clinic=clinic).order_by("pk").first()
            with transaction.atomic():
                for index, row in enumerate(DEMO_INCIDENTS):
                    self._seed_one(
                        clinic, officer, manager, patient, flag if index == 3 else None, row
                    )
                    made += 1
        sealed = sealer.seal_pending()
        self.stdout.write(f"Created {made} demo incidents; sealed {sealed.sealed} audit events.")

    def _seed_one(
        self,
        clinic: Clinic,
        officer: User,
        manager: User,
        patient: Patient | None,
        flag: Flag | None,
        row: tuple[str, str, str, str, str, int, str],
    ) -> None:
        title, kind, category, harm, where, days_ago, state = row
        occurred = _local(clinic, days_ago, 10)
        incident = incidents.report_incident(
            actor=officer if state != "reported" else manager,
            clinic=clinic,
            kind=kind,
            title=title,
            description=f"{title}. (Demo data.)",
            location=where,
            occurred_at=occurred,
            category=category,
            harm=harm,
            patient=patient if category in ("medication", "identification") else None,
            witnesses="A colleague on shift" if kind == "incident" else "",
            flag=flag,
        ).obj
        reported_at = occurred + timedelta(hours=2)
        closed_at: datetime | None = None
        if state == "reported":
            self._dates(incident, reported_at, None)
            return
        incidents.triage(
            actor=officer,
            incident=incident,
            priority="high" if harm == "moderate" else "medium",
            lead=officer,
            category=category,
            harm=harm,
        )
        if state == "closed_with_reason":
            incidents.close_incident(
                actor=officer,
                incident=incident,
                reason="Covered by the new fridge monitoring alarm; no separate analysis.",
            )
            self._dates(incident, reported_at, _local(clinic, days_ago - 4, 15))
            return
        if state == "triaged":
            self._dates(incident, reported_at, None)
            return
        incidents.start_investigation(actor=officer, incident=incident)
        incidents.save_analysis(
            actor=officer,
            incident=incident,
            whys=[
                "The step was skipped",
                "The checklist is on paper in another room",
                "Nobody owns the checklist",
            ],
            fishbone={
                "methods": "No standard check at this step",
                "communication": "Hand-over does not mention it",
            },
            root_cause="" if state == "investigating" else "No owned, visible check at the step.",
        )
        if state == "investigating":
            self._dates(incident, reported_at, None)
            return
        first = incidents.add_action(
            actor=officer,
            incident=incident,
            kind="corrective",
            description="Add the check to the electronic checklist at the station.",
            owner=manager,
            due_date=clinic.today() + timedelta(days=10),
        ).obj
        second = incidents.add_action(
            actor=officer,
            incident=incident,
            kind="preventive",
            description="Teach the check at the monthly staff huddle.",
            owner=manager,
            due_date=clinic.today() + timedelta(days=20),
        ).obj
        incidents.finish_analysis(actor=officer, incident=incident)
        if state == "acting":
            incidents.complete_action(actor=manager, action=first, note="Checklist updated.")
            # the other one ran late: overdue, for the alert and the list's badge
            CorrectiveAction.objects.filter(pk=second.pk).update(
                due_date=clinic.today() - timedelta(days=3)
            )
            self._dates(incident, reported_at, None)
            return
        for action in (first, second):
            incidents.complete_action(actor=manager, action=action, note="Done as planned.")
            incidents.verify_action(
                actor=officer,
                action=action,
                effective=True,
                note="Spot check of 20 visits: the step was done every time.",
            )
        incidents.close_incident(actor=officer, incident=incident)
        closed_at = _local(clinic, max(days_ago - 30, 1), 16)
        if state == "reopened":
            incidents.reopen_incident(
                actor=officer, incident=incident, reason="It happened again on another shift."
            )
            closed_at = None
        self._dates(incident, reported_at, closed_at)

    @staticmethod
    def _dates(incident: Incident, reported_at: datetime, closed_at: datetime | None) -> None:
        """Back-date the demo incident (the audit trail keeps the real times of the seeding)."""
        fields: dict[str, Any] = {"reported_at": reported_at}
        if closed_at is not None:
            fields["closed_at"] = closed_at
        Incident.objects.filter(pk=incident.pk).update(**fields)
