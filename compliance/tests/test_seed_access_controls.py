"""`seed_access_controls` (run by seed_demo): a break-glass use awaiting review with a flagged
read, an access review in progress per clinic, an off-hours hint; idempotent; sealed."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic
from compliance.models import AccessReview, AnomalyHint, BreakGlassAccess

pytestmark = pytest.mark.django_db


def test_the_demo_access_controls() -> None:
    call_command("seed_demo", stdout=StringIO(), verbosity=0, core_only=True, patients=20)
    call_command("seed_access_controls", stdout=StringIO())
    access = BreakGlassAccess.objects.get()
    assert access.review == "pending"
    assert access.user.username == "nurse"
    assert access.patient.clinic_id not in access.user.clinic_ids
    assert AuditEvent.objects.filter(action="view", changes__break_glass=access.pk).count() == 1
    reviews = AccessReview.objects.all()
    assert reviews.count() == Clinic.objects.count()
    assert all(r.completed_at is None for r in reviews)
    assert all(r.lines.filter(decision="confirmed").count() == 2 for r in reviews)
    hint = AnomalyHint.objects.get()
    assert hint.rule == "off_hours"
    assert hint.user.username == "frontdesk"
    assert len(hint.event_ids) == 3
    result = audit.verify_chain()
    assert (result.broken, result.unsealed) == (None, 0)
    call_command("seed_access_controls", stdout=StringIO())
    assert BreakGlassAccess.objects.count() == 1
    assert AccessReview.objects.count() == Clinic.objects.count()
    assert AnomalyHint.objects.count() == 1
