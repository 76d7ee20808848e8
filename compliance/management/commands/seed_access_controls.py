"""Demo data for break-glass, the access review and the anomaly hints (DEMO DATA).

- `nurse` (Riverside) broke the glass five minutes ago for a Hillcrest patient and opened the
  record: the banner shows for the rest of the hour, and Hillcrest's compliance officer has it
  awaiting review, with the flagged read.
- Each clinic has an on-demand access review in progress (two lines confirmed).
- Yesterday evening `frontdesk` opened three Riverside records at 22:40, after closing: crafted
  audit events (summary "demo data"), from which the hints are then computed by the service.

Idempotent: each part is skipped where it exists already. Then the audit trail is sealed.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from clinicops.audit import audit, sealer
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, Patient, User
from compliance import access_review, anomalies, breakglass
from compliance.models import AccessReview, AnomalyHint, BreakGlassAccess


class Command(BaseCommand):
    help = "Demo break-glass use, access reviews in progress and anomaly hints (DEMO DATA)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=17)

    def handle(self, *args: Any, seed: int, **options: Any) -> None:
        users = {u.username: u for u in User.objects.filter(is_active=True)}
        clinics = list(Clinic.objects.filter(is_active=True).order_by("pk"))
        done = [self._break_glass(users, clinics), self._reviews(users, clinics)]
        done.append(self._hints(users, clinics))
        sealed = sealer.seal_pending()
        self.stdout.write(f"Access controls demo: {', '.join(done)}; sealed {sealed.sealed}.")

    def _break_glass(self, users: dict[str, User], clinics: list[Clinic]) -> str:
        nurse = users.get("nurse")
        if nurse is None or BreakGlassAccess.objects.exists():
            return "break-glass already there"
        elsewhere = [c for c in clinics if c.pk not in nurse.clinic_ids]
        patient = (
            Patient.objects.filter(clinic__in=elsewhere).order_by("pk").first()
            if elsewhere
            else None
        )
        if patient is None:
            return "no other clinic's patient for break-glass"
        access = breakglass.break_glass(
            user=nurse,
            patient=patient,
            reason=BreakGlassAccess.Reason.CONTINUITY,
            explanation="Walked in at Riverside with chest pain; needed her medication list "
            "from Hillcrest (demo data).",
            now=timezone.now() - timedelta(minutes=5),
        )
        reader = User.objects.get(pk=nurse.pk)  # a fresh user object, as a new request has
        audit.record(actor=reader, action=AuditEvent.Action.VIEW, obj=patient)
        return f"break-glass use {access.pk} awaiting review"

    def _reviews(self, users: dict[str, User], clinics: list[Clinic]) -> str:
        manager = users.get("manager")
        made = 0
        for clinic in clinics:
            if manager is None or AccessReview.objects.filter(clinic=clinic).exists():
                continue
            review = access_review.start_review(clinic=clinic, actor=manager)
            for line in review.lines.exclude(user=manager).order_by("pk")[:2]:
                access_review.decide(actor=manager, line=line, decision="confirmed")
            made += 1
        return f"{made} access review(s) in progress"

    def _hints(self, users: dict[str, User], clinics: list[Clinic]) -> str:
        desk = users.get("frontdesk")
        if desk is None or not clinics or AnomalyHint.objects.exists():
            return "hints already there"
        clinic = clinics[0]
        yesterday = clinic.today() - timedelta(days=1)
        late = datetime.combine(yesterday, time(22, 40), tzinfo=clinic.tz)
        for n, patient in enumerate(Patient.objects.filter(clinic=clinic).order_by("pk")[:3]):
            AuditEvent.objects.create(
                occurred_at=late + timedelta(minutes=n * 3),
                actor=desk,
                actor_label=desk.get_username(),
                action=AuditEvent.Action.VIEW,
                object_type="core.patient",
                object_id=str(patient.pk),
                patient_id=patient.pk,
                clinic_id=clinic.pk,
                summary="Opened the record (demo data)",
            )
        made = anomalies.compute_hints(clinic, yesterday)
        return f"{len(made)} hint(s)"
