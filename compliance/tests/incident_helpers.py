"""Building incidents for tests: through the services, so each step is the real one."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from clinicops.core.models import Clinic, User
from compliance import incidents
from compliance.models import CorrectiveAction, Incident


def report(actor: User, clinic: Clinic, **fields: Any) -> Incident:
    values: dict[str, Any] = {
        "kind": "incident",
        "title": "Wrong patient's label on a specimen",
        "description": "Specimen tube labelled with the previous patient's sticker.",
        "location": "Lab draw station",
        "occurred_at": timezone.now() - timedelta(hours=2),
        "category": "identification",
        "harm": "no_harm",
    }
    values.update(fields)
    return incidents.report_incident(actor=actor, clinic=clinic, **values).obj


def triaged(officer: User, clinic: Clinic, **fields: Any) -> Incident:
    incident = report(officer, clinic, **fields)
    return incidents.triage(
        actor=officer,
        incident=incident,
        priority="high",
        lead=officer,
        category=incident.category,
        harm=incident.harm,
    ).obj


def investigating(officer: User, clinic: Clinic, **fields: Any) -> Incident:
    incident = triaged(officer, clinic, **fields)
    return incidents.start_investigation(actor=officer, incident=incident).obj


def analysed(officer: User, clinic: Clinic, owner: User, **fields: Any) -> Incident:
    incident = investigating(officer, clinic, **fields)
    incidents.save_analysis(
        actor=officer,
        incident=incident,
        whys=["Labels printed in batches", "The printer is far from the chair"],
        fishbone={"equipment": "One printer for four chairs", "methods": "Batch printing"},
        root_cause="Labels are printed ahead, in batches, away from the patient.",
    )
    add(officer, incident, owner)
    return incidents.finish_analysis(actor=officer, incident=incident).obj


def add(officer: User, incident: Incident, owner: User, **fields: Any) -> CorrectiveAction:
    values: dict[str, Any] = {
        "kind": "corrective",
        "description": "Put a label printer at each draw chair.",
        "owner": owner,
        "due_date": incident.clinic.today() + timedelta(days=14),
    }
    values.update(fields)
    return incidents.add_action(actor=officer, incident=incident, **values).obj


def at(moment: datetime) -> Any:
    """Freeze timezone.now() (for the times services stamp)."""
    from unittest import mock

    return mock.patch("django.utils.timezone.now", return_value=moment)
