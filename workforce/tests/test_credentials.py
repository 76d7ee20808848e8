"""Credentials: the roster rule (a lapsed required credential blocks assignment and shows on the
roster and the person), the scanned copy (size and type by content, who may read it), and the
expiry alerts (60, 30 and 7 days, once each)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, Staff, User
from clinicops.core.tests.factories import StaffFactory
from workforce import rules
from workforce.models import Credential, CredentialAlert, CredentialType, RosterRole, ShiftTemplate
from workforce.services import weeks
from workforce.services.credentials import send_alerts
from workforce.services.weeks import RosterError

from .conftest import MONDAY

pytestmark = pytest.mark.django_db
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def client_for(user: User) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def bls() -> CredentialType:
    return CredentialType.objects.create(
        code="BLS", name="Basic Life Support", required_for=[RosterRole.FRONT_DESK]
    )


def hold(staff: Staff, kind: CredentialType, issued: dt.date, expires: dt.date | None) -> None:
    Credential.objects.create(
        staff=staff, type=kind, number="X1", issuer="AHA", issued_on=issued, expires_on=expires
    )


def test_a_lapsed_required_credential_blocks_the_assignment(
    clinic: Clinic, desk: list[Staff], early: ShiftTemplate, bls: CredentialType
) -> None:
    hold(desk[0], bls, dt.date(2025, 3, 1), MONDAY + dt.timedelta(days=1))  # lapses after Tue
    week = weeks.week_for(clinic, MONDAY)
    weeks.add_assignment(actor=None, week=week, staff=desk[0], template=early, day=MONDAY)
    with pytest.raises(RosterError, match=r"Sam Adams's BLS lapsed on Tue 02 Mar 2027"):
        weeks.add_assignment(
            actor=None,
            week=week,
            staff=desk[0],
            template=early,
            day=MONDAY + dt.timedelta(days=2),
        )
    with pytest.raises(RosterError, match="has no BLS on file"):
        weeks.add_assignment(actor=None, week=week, staff=desk[1], template=early, day=MONDAY)
    assert week.assignments.count() == 1


def test_a_credential_that_lapses_shows_on_the_roster_and_blocks_publish(
    clinic: Clinic, manager: User, desk: list[Staff], early: ShiftTemplate
) -> None:
    week = weeks.week_for(clinic, MONDAY)
    weeks.add_assignment(actor=None, week=week, staff=desk[0], template=early, day=MONDAY)
    # The requirement (and the lapse) arrives after the shift was rostered.
    acls = CredentialType.objects.create(
        code="ACLS", name="Advanced Cardiac Life Support", required_for=[RosterRole.FRONT_DESK]
    )
    hold(desk[0], acls, dt.date(2025, 1, 1), MONDAY - dt.timedelta(days=3))
    found = weeks.violations(week)
    assert [v.rule for v in found] == ["credential"]
    assert "ACLS lapsed on Fri 26 Feb 2027" in found[0].message
    c = client_for(manager)
    page = c.get(f"/roster/?week={MONDAY.isoformat()}").content.decode()
    assert "Sam Adams&#x27;s ACLS lapsed on Fri 26 Feb 2027" in page
    with pytest.raises(RosterError, match="1 rule violation block"):
        weeks.publish(actor=manager, week=week)


def test_the_credentials_page_shows_where_each_person_stands_today(
    clinic: Clinic, manager: User, desk: list[Staff], bls: CredentialType
) -> None:
    today = clinic.today()
    hold(desk[0], bls, today - dt.timedelta(days=400), today - dt.timedelta(days=2))
    page = client_for(manager).get("/roster/credentials/").content.decode()
    assert f"BLS lapsed {today - dt.timedelta(days=2):%d %b %Y}" in page
    assert "BLS missing" in page  # Baker has none
    assert "2 people may not be rostered" in page
    hold(desk[1], bls, today - dt.timedelta(days=10), today + dt.timedelta(days=20))
    page = client_for(manager).get("/roster/credentials/").content.decode()
    assert "BLS expires in 20 days" in page
    roster = client_for(manager).get("/roster/").content.decode()
    assert f"BLS lapsed {today - dt.timedelta(days=2):%d %b %Y}" in roster
    own = client_for(desk[0].user).get("/roster/credentials/mine/").content.decode()
    assert "BLS lapsed" in own


def test_the_rule_is_a_pure_function_of_the_person() -> None:
    status = rules.CredentialStatus(
        "DEA", frozenset({"provider"}), ((dt.date(2026, 1, 1), dt.date(2026, 6, 30)),)
    )
    shift = rules.Shift(
        "k",
        1,
        1,
        "provider",
        dt.date(2026, 7, 1),
        dt.datetime(2026, 7, 1, 12, tzinfo=dt.UTC),
        dt.datetime(2026, 7, 1, 20, tzinfo=dt.UTC),
        label="Clinic day",
    )
    person_ = rules.Person(1, "Dr Ada", frozenset({"provider"}), credentials=(status,))
    found = rules.check([shift], people=[person_], limits=rules.Limits())
    assert [v.message for v in found] == [
        "Dr Ada's DEA lapsed on Tue 30 Jun 2026 (required for provider), but is on Clinic day "
        "Wed 01 Jul."
    ]
    inside = rules.Shift("k", 1, 1, "provider", dt.date(2026, 6, 30), shift.start, shift.end)
    assert rules.check([inside], people=[person_], limits=rules.Limits()) == []


def test_upload_checks_size_and_content_and_serves_only_manager_and_person(
    clinic: Clinic, other_clinic: Clinic, manager: User, desk: list[Staff], bls: CredentialType
) -> None:
    c = client_for(manager)
    url = f"/roster/credentials/people/{desk[0].pk}/add/"
    base = {
        "type": bls.pk,
        "number": "BLS-77",
        "issuer": "American Heart Association",
        "state": "ny",
        "issued_on": "2026-01-10",
        "expires_on": "2028-01-31",
    }
    big = SimpleUploadedFile("scan.pdf", b"%PDF-" + b"0" * (40 * 1024 * 1024), "application/pdf")
    answer = c.post(url, {**base, "scan": big})
    assert answer.status_code == 400
    assert "Scanned copy: the file is 40.0 MB; the limit is 10 MB. Nothing was saved." in (
        answer.content.decode()
    )
    fake = SimpleUploadedFile("scan.pdf", b"MZ\x90\x00 not a pdf", "application/pdf")
    answer = c.post(url, {**base, "scan": fake})
    assert "is not a PDF, PNG or JPEG (checked by its content" in answer.content.decode()
    answer = c.post(url, {**base, "expires_on": "2025-01-01"})
    assert "Expires: The expiry date is before the issue date." in answer.content.decode()
    assert Credential.objects.count() == 0
    answer = c.post(url, {**base, "scan": SimpleUploadedFile("s.pdf", PDF, "text/plain")})
    assert answer.status_code == 302
    page = c.get(answer["Location"]).content.decode()
    assert "Recorded BLS BLS-77 for Sam Adams: expires Mon 31 Jan 2028, scanned copy 0 KB " in page
    # The same form twice: one credential.
    c.post(url, {**base, "scan": SimpleUploadedFile("s.pdf", PDF, "text/plain")})
    credential = Credential.objects.get()
    assert credential.state == "NY"
    scan_url = f"/roster/credentials/{credential.pk}/scan/"
    served = c.get(scan_url)
    assert served.status_code == 200
    assert served["Content-Type"] == "application/pdf"
    assert served.content == PDF
    assert client_for(desk[0].user).get(scan_url).status_code == 200
    assert client_for(desk[1].user).get(scan_url).status_code == 404
    far_manager = StaffFactory(roles=[roles.MANAGER], clinics=[other_clinic]).user
    assert client_for(far_manager).get(scan_url).status_code == 404
    assert (
        client_for(far_manager).get(f"/roster/credentials/people/{desk[0].pk}/").status_code == 404
    )
    assert AuditEvent.objects.filter(summary__startswith="Read the scanned copy").count() == 2
    mine = client_for(desk[0].user).get("/roster/credentials/mine/").content.decode()
    assert "BLS-77" in mine
    png = SimpleUploadedFile("x.png", PNG, "image/png")
    c.post(url, {**base, "number": "BLS-78", "scan": png})
    assert Credential.objects.get(number="BLS-78").scan.content_type == "image/png"


def test_alerts_at_60_30_and_7_days_are_sent_once_each(
    clinic: Clinic, manager: User, desk: list[Staff], bls: CredentialType
) -> None:
    expiry = dt.date(2027, 6, 30)
    desk[0].user.email = "sam@example.org"
    desk[0].user.save()
    manager.email = "boss@example.org"
    manager.save()
    hold(desk[0], bls, dt.date(2025, 6, 30), expiry)
    sent = []
    for days_left in (70, 61, 60, 60, 45, 31, 30, 29, 8, 7, 7, 3, 0, -1):
        sent.append(send_alerts(today=expiry - dt.timedelta(days=days_left)))
    assert sent == [0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0]
    assert sorted(CredentialAlert.objects.values_list("threshold_days", flat=True)) == [7, 30, 60]
    assert len(mail.outbox) == 3
    assert set(mail.outbox[0].to) == {"sam@example.org", "boss@example.org"}
    assert "BLS of Sam Adams expires in 60 days" in mail.outbox[0].subject


def test_a_late_first_run_sends_only_the_threshold_reached_and_a_renewal_silences(
    clinic: Clinic, desk: list[Staff], bls: CredentialType
) -> None:
    expiry = dt.date(2027, 6, 30)
    hold(desk[0], bls, dt.date(2025, 6, 30), expiry)
    assert send_alerts(today=expiry - dt.timedelta(days=20)) == 1
    assert list(CredentialAlert.objects.values_list("threshold_days", flat=True)) == [30]
    hold(desk[0], bls, dt.date(2027, 6, 1), dt.date(2029, 6, 30))  # renewed
    assert send_alerts(today=expiry - dt.timedelta(days=5)) == 0


def test_seed_timeclock_adds_punches_credentials_and_is_idempotent(clinic: Clinic) -> None:
    import io

    from django.core.management import call_command

    from workforce.models import Punch, TimesheetWeek

    StaffFactory(roles=[roles.FRONT_DESK], clinics=[clinic])
    call_command("seed_roster", time_limit=1, stdout=io.StringIO())
    call_command("seed_timeclock", stdout=io.StringIO())
    flags = set(Punch.objects.values_list("flag", flat=True))
    assert {"late", "early", ""} <= flags
    assert (
        Punch.objects.filter(kind="in").count()
        < Punch.objects.filter(assignment__isnull=False).values("assignment").distinct().count() + 1
    )
    assert Credential.objects.filter(expires_on__lt=clinic.today()).count() == 1
    assert TimesheetWeek.objects.filter(status="approved").exists()
    counts = (Punch.objects.count(), Credential.objects.count(), TimesheetWeek.objects.count())
    call_command("seed_timeclock", stdout=io.StringIO())
    assert counts == (
        Punch.objects.count(),
        Credential.objects.count(),
        TimesheetWeek.objects.count(),
    )
