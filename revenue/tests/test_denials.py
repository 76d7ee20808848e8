"""The denial work queue, the remittance screens, A/R aging and the Pareto chart, through the
services and the views: permissions, clinic scoping, audit, the same request twice."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.tests.factories import ClinicFactory, PatientFactory
from revenue import selectors
from revenue.models import Claim, ClaimStatus, DenialItem, LedgerEntry, Remittance
from revenue.services import RevenueError, balances, denials, remittances
from revenue.x12.writer_835 import Cas, RemitLine

from .factories import checked_out_visit
from .remits import D, paid_in_full_line, remit, remit_claim, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def claim(visit, make_claim):
    return submit(make_claim(visit, lines=(("99213", [1]), ("36415", [1]))))


def denied_file(claim, billing, *, code="197", trace="DEN1", paid_first=False):
    first, second = claim.lines.all()
    lines = (
        RemitLine(first.procedure_code, first.charge,
                  D("100") if paid_first else D("0"),
                  (Cas("CO", "45", D("25")),) if paid_first else (Cas("CO", code, first.charge),),
                  line_id=first.line_id, remarks=("N54",)),
        RemitLine(second.procedure_code, second.charge, D("0"), (Cas("CO", code, second.charge),),
                  line_id=second.line_id),
    )  # fmt: skip
    return remit([remit_claim(claim, lines)], billing=billing, trace=trace)


@pytest.fixture
def denied(claim, billing, biller):
    remittances.import_835(actor=biller, content=denied_file(claim, billing))
    return list(DenialItem.objects.order_by("pk"))


@pytest.fixture
def manager(make_user):
    return make_user(roles.MANAGER, username="manager")


def test_biller_uploads_an_835_and_sees_the_postings(client, biller, claim, billing):
    client.force_login(biller)
    upload = SimpleUploadedFile("remit.835", denied_file(claim, billing).encode())
    response = client.post(reverse("revenue:remittances"), {"file": upload}, follow=True)
    page = response.content.decode()
    assert "Posted trace DEN1: 1 claim, 2 lines, 2 denials opened, 0 unmatched." in page
    assert claim.control_number in page
    assert "Denial" in page
    again = client.post(
        reverse("revenue:remittances"),
        {"file": SimpleUploadedFile("again.835", denied_file(claim, billing).encode())},
        follow=True,
    )
    assert "Already posted" in again.content.decode()
    assert Remittance.objects.count() == 1
    assert AuditEvent.objects.filter(object_type="revenue.remittance", action="create").exists()
    assert AuditEvent.objects.filter(
        object_type="revenue.remittance", patient_id=claim.patient_id
    ).exists()


def test_a_bad_upload_says_why_and_posts_nothing(client, biller, claim):
    client.force_login(biller)
    upload = SimpleUploadedFile("bad.835", b"ISA*00*garbage~")
    response = client.post(reverse("revenue:remittances"), {"file": upload})
    assert response.status_code == 422
    assert "Refused, nothing was posted" in response.content.decode()
    assert Remittance.objects.count() == 0
    binary = client.post(
        reverse("revenue:remittances"), {"file": SimpleUploadedFile("x.835", b"\xff\xfe")}
    )
    assert binary.status_code == 422
    assert "not ASCII" in binary.content.decode()


def test_manager_may_read_but_not_post(client, manager, claim, billing):
    client.force_login(manager)
    assert client.get(reverse("revenue:remittances")).status_code == 200
    upload = SimpleUploadedFile("remit.835", denied_file(claim, billing).encode())
    assert client.post(reverse("revenue:remittances"), {"file": upload}).status_code == 403
    assert Remittance.objects.count() == 0


def test_queue_shows_items_with_codes_texts_and_overdue(client, biller, denied, claim):
    DenialItem.objects.filter(pk=denied[0].pk).update(due_date=dt.date(2020, 1, 1))
    client.force_login(biller)
    page = client.get(reverse("revenue:denials")).content.decode()
    assert "2 work items" in page
    assert "CO-197" in page
    assert "Overdue" in page
    assert 'class="is-overdue"' in page
    overdue = client.get(reverse("revenue:denials"), {"state": "overdue"}).content.decode()
    assert "1 work item." in overdue
    detail = client.get(reverse("revenue:denial", args=[denied[0].pk])).content.decode()
    assert "Precertification/notification/authorization/pre-treatment absent." in detail
    assert "N54" in detail
    assert "Authorization / referral" in detail


def test_another_clinics_denial_is_404(client, denied, make_user):
    other = ClinicFactory(name="Hillcrest")
    stranger = make_user(roles.BILLER, clinics=[other], username="other-biller")
    client.force_login(stranger)
    assert client.get(reverse("revenue:denial", args=[denied[0].pk])).status_code == 404
    assert client.post(reverse("revenue:denial_appeal", args=[denied[0].pk])).status_code == 404
    assert client.get(reverse("revenue:denial_letter", args=[denied[0].pk])).status_code == 404


def test_bulk_assign_then_the_same_request_again(client, biller, denied):
    client.force_login(biller)
    data = {"items": [d.pk for d in denied], "owner": str(biller.pk)}
    response = client.post(reverse("revenue:denials_assign"), data, follow=True)
    assert "2 work items now with" in response.content.decode()
    assert set(DenialItem.objects.values_list("owner_id", flat=True)) == {biller.pk}
    again = client.post(reverse("revenue:denials_assign"), data, follow=True)
    assert "(0 changed)" in again.content.decode()
    mine = client.get(reverse("revenue:denials"), {"owner": "me", "state": "open"})
    assert "2 work items" in mine.content.decode()
    nothing = client.post(reverse("revenue:denials_assign"), {"owner": ""}, follow=True)
    assert "Nothing was assigned: Tick the work items to assign." in nothing.content.decode()


def test_work_an_item_to_an_appeal_and_print_the_letter(client, biller, denied, claim):
    client.force_login(biller)
    item = denied[0]
    note = client.post(
        reverse("revenue:denial_note", args=[item.pk]), {"note": "Called payer"}, follow=True
    )
    assert "Note saved; the item is working." in note.content.decode()
    client.post(reverse("revenue:denial_note", args=[item.pk]), {"note": "Called payer"})
    item.refresh_from_db()
    assert item.notes.count("Called payer") == 1  # the same request twice: one note
    response = client.post(reverse("revenue:denial_appeal", args=[item.pk]), follow=True)
    item.refresh_from_db()
    claim.refresh_from_db()
    assert item.status == DenialItem.Status.APPEALED
    assert claim.status == ClaimStatus.APPEALED
    assert f"claim {claim.control_number} is appealed" in response.content.decode()
    twice = client.post(reverse("revenue:denial_appeal", args=[item.pk]))
    assert twice.status_code == 302
    letter = client.get(reverse("revenue:denial_letter", args=[item.pk])).content.decode()
    assert "Request for reconsideration" in letter
    assert claim.control_number in letter
    assert "CO-197" in letter


def test_status_moves_need_a_reason_and_follow_the_rules(biller, denied):
    item = denied[0]
    with pytest.raises(RevenueError, match="need a reason"):
        denials.move(actor=biller, item=item.pk, to_status="won")
    with pytest.raises(RevenueError, match="write-off action"):
        denials.move(actor=biller, item=item.pk, to_status="written_off", reason="x")
    with pytest.raises(RevenueError, match="A new denial cannot become won"):
        denials.move(actor=biller, item=item.pk, to_status="won", reason="Paid on appeal")
    denials.move(actor=biller, item=item.pk, to_status="working")
    won = denials.move(actor=biller, item=item.pk, to_status="won", reason="Paid on appeal")
    assert won.status == "won"
    with pytest.raises(RevenueError, match="cannot become working"):
        denials.move(actor=biller, item=item.pk, to_status="working")


def test_write_off_needs_its_permission_and_posts_to_the_ledger(
    client, biller, manager, denied, claim
):
    item = denied[1]
    client.force_login(biller)
    url = reverse("revenue:denial_write_off", args=[item.pk])
    assert client.post(url, {"writeoff-reason": "Small balance"}).status_code == 403
    client.force_login(manager)
    missing = client.post(url, {"writeoff-reason": ""})
    assert missing.status_code == 422
    assert "Say why the amount is written off." in missing.content.decode()
    done = client.post(url, {"writeoff-reason": "Small balance"}, follow=True)
    claim.refresh_from_db()
    assert claim.balance == claim.total_charge - item.amount
    assert f"its balance is now {claim.balance}" in done.content.decode()
    assert LedgerEntry.objects.get(kind="write_off").amount == item.amount
    client.post(url, {"writeoff-reason": "Small balance"})  # the same request twice
    assert LedgerEntry.objects.filter(kind="write_off").count() == 1
    assert AuditEvent.objects.filter(summary__startswith="Wrote off").count() == 1
    assert balances.check()[1] == []


def test_correct_and_resubmit_builds_a_frequency_7_claim(client, biller, denied, claim):
    client.force_login(biller)
    response = client.post(
        reverse("revenue:denial_resubmit", args=[denied[0].pk]),
        {"resubmit-reason": "Added the authorization number"},
        follow=True,
    )
    new = Claim.objects.get(original=claim)
    claim.refresh_from_db()
    assert new.frequency == "7"
    assert new.payer_claim_number == claim.payer_claim_number
    assert f"Built corrected claim {new.control_number} (frequency 7)" in (
        response.content.decode()
    )
    again = client.post(
        reverse("revenue:denial_resubmit", args=[denied[0].pk]),
        {"resubmit-reason": "Added the authorization number"},
    )
    assert again.status_code == 422
    assert f"Corrected claim {new.control_number} was already built" in again.content.decode()
    assert Claim.objects.filter(original=claim).count() == 1


def test_weekly_digest_mails_each_owner_their_open_items(biller, denied):
    biller.email = "biller@example.com"
    biller.save()
    denials.assign(actor=biller, items=[d.pk for d in denied], owner=biller,
                   clinic_id=denied[0].clinic_id)  # fmt: skip
    DenialItem.objects.filter(pk=denied[0].pk).update(due_date=dt.date(2020, 1, 1))
    assert denials.send_weekly_digest(today=dt.date(2026, 12, 7)) == 1
    message = mail.outbox[-1]
    assert message.to == ["biller@example.com"]
    assert "2 open denials (1 overdue)" in message.subject
    assert "OVERDUE" in message.body
    assert "Quimby" not in message.body  # no patient names in a mail


def test_beat_schedules_the_digest(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["revenue-denial-digest"]
    assert entry["task"] == "revenue.tasks.send_denial_digest"


def test_pareto_moves_when_a_denial_is_posted_and_drills_down(client, biller, denied, claim,
                                                              billing, clinic):  # fmt: skip
    client.force_login(biller)
    page = client.get(reverse("revenue:pareto")).content.decode()
    assert "Authorization / referral" in page
    assert "$140 in all" in page
    bars = selectors.denial_pareto(clinic, first=dt.date(2000, 1, 1), last=dt.date(2100, 1, 1))
    assert [(b.key, b.amount, b.cumulative_pct) for b in bars] == [
        ("authorization", Decimal("140.00"), Decimal("100.0"))
    ]
    drill = client.get(reverse("revenue:denials"), {"state": "", "bucket": "authorization"})
    assert "2 work items" in drill.content.decode()
    by_payer = client.get(reverse("revenue:pareto"), {"by": "payer"}).content.decode()
    assert "Blue Valley Health Plan" in by_payer
    bad = client.get(reverse("revenue:pareto"), {"period_from": "2026-12-01",
                                                  "period_to": "2026-11-01"})  # fmt: skip
    assert bad.status_code == 200
    assert "The period ends before it starts." in bad.content.decode()


def test_aging_by_payer_and_patient_as_of_a_date_and_csv(client, biller, claim, billing, clinic):
    remittances.import_835(
        actor=biller, content=denied_file(claim, billing, paid_first=True)
    )  # 100 paid, 25 contractual, 15 denied: 15 owed by the payer
    today = clinic.today()
    rows, totals = selectors.ar_aging(clinic, as_of=today)
    assert [(r.label, r.total) for r in rows] == [("Blue Valley Health Plan", D("15.00"))]
    age = (today - claim.service_date).days
    assert age <= 30
    assert totals.amounts["0-30"] == D("15.00")
    # The day before the posting the whole charge was owed (balances from the ledger by then).
    before = today - dt.timedelta(days=1)
    Claim.objects.filter(pk=claim.pk).update(
        submitted_at=dt.datetime.combine(
            before - dt.timedelta(days=1), dt.time(12), tzinfo=clinic.tz
        )
    )
    rows, _ = selectors.ar_aging(clinic, as_of=before)
    assert rows[0].total == claim.total_charge
    # 120+ on a later date.
    later = today + dt.timedelta(days=200)
    rows, totals = selectors.ar_aging(clinic, as_of=later)
    assert totals.amounts["120+"] == D("15.00")
    client.force_login(biller)
    page = client.get(reverse("revenue:aging")).content.decode()
    assert "Outstanding: $15.00" in page
    csv = client.get(reverse("revenue:aging_csv"), {"by": "payer"}).content.decode()
    assert csv.splitlines()[0] == "Payer,0-30,31-60,61-90,91-120,120+,Total"
    assert "Blue Valley Health Plan,15.00,0.00,0.00,0.00,0.00,15.00" in csv
    assert AuditEvent.objects.filter(action="export", summary__startswith="Exported A/R").exists()


def test_aging_by_patient_shows_the_patients_share(client, biller, claim, billing, clinic):
    lines = paid_in_full_line(claim, contractual=D("5"), patient=D("10"))
    remittances.import_835(actor=biller, content=remit([remit_claim(claim, lines)],
                                                        billing=billing))  # fmt: skip
    rows, _totals = selectors.ar_aging(clinic, as_of=clinic.today(), by="patient")
    assert [r.total for r in rows] == [D("20.00")]
    assert "Quimby" in rows[0].label
    client.force_login(biller)
    page = client.get(reverse("revenue:aging"), {"by": "patient"}).content.decode()
    assert "Quimby" in page


def test_patient_balance_hook_for_the_front_desk(claim, billing, biller):
    from patientflow import balances as desk

    lines = paid_in_full_line(claim, contractual=D("5"), patient=D("10"))
    remittances.import_835(actor=biller, content=remit([remit_claim(claim, lines)],
                                                        billing=billing))  # fmt: skip
    assert desk.patient_balance(claim.patient_id) == D("20.00")
    assert desk.patient_balance(PatientFactory(clinic=claim.clinic).pk) == D("0")


def test_check_in_shows_the_balance_read_with_the_appointment(
    claim, billing, biller, front_desk, client
):
    """The check-in page reads the balance as a subquery of its appointment query (one round
    trip); it must be the ledger's figure, and none for a patient who owes nothing."""
    from django.utils import timezone

    from patientflow import balances as desk
    from patientflow.tests.clock import midday_zone
    from scheduling.models import Appointment
    from scheduling.tests.factories import AppointmentFactory

    lines = paid_in_full_line(claim, contractual=D("5"), patient=D("10"))
    remittances.import_835(actor=biller, content=remit([remit_claim(claim, lines)],
                                                        billing=billing))  # fmt: skip
    LedgerEntry.objects.create(  # paid part of it at the desk: 20.00 - 7.50
        clinic=claim.clinic,
        claim=claim,
        patient=claim.patient,
        kind=LedgerEntry.Kind.PATIENT_PAYMENT,
        amount=D("7.50"),
        posted_at=timezone.now(),
        posted_by_label="desk",
    )
    clinic = claim.clinic
    clinic.time_zone = midday_zone()  # the appointments are today, so the form is shown
    clinic.save()
    soon = timezone.now() + dt.timedelta(minutes=5)
    owing = AppointmentFactory(clinic=clinic, patient=claim.patient, start=soon)
    clear = AppointmentFactory(clinic=clinic, start=soon + dt.timedelta(minutes=30))
    annotated = Appointment.objects.annotate(
        owed=desk.patient_balance_expression("patient_id")
    ).in_bulk([owing.pk, clear.pk])
    assert annotated[owing.pk].owed == balances.patient_balance(claim.patient_id) == D("12.50")
    assert annotated[clear.pk].owed == D("0")

    client.force_login(front_desk)
    page = client.get(reverse("patientflow:check_in", args=[owing.pk])).content.decode()
    assert "Open balance from past visits: <strong>$12.50</strong>" in page
    page = client.get(reverse("patientflow:check_in", args=[clear.pk])).content.decode()
    assert "data-open-balance" not in page


@pytest.mark.parametrize("dst_day", [dt.date(2026, 3, 8), dt.date(2026, 11, 1)])
def test_aging_and_first_remittance_day_follow_the_clinic_day_across_dst(
    clinic, provider, patient, coverage, billing, fees, make_claim, biller, dst_day
):
    from revenue.kpis import initial_denial_rate_parts

    visit = checked_out_visit(clinic, provider=provider, patient=patient, coverage=coverage,
                              day=dst_day - dt.timedelta(days=10))  # fmt: skip
    claim = submit(make_claim(visit))
    Claim.objects.filter(pk=claim.pk).update(
        submitted_at=dt.datetime.combine(dst_day - dt.timedelta(days=5), dt.time(9),
                                         tzinfo=clinic.tz)
    )  # fmt: skip
    late = dt.datetime.combine(dst_day, dt.time(23, 30), tzinfo=clinic.tz)
    lines = paid_in_full_line(claim, contractual=D("25"))
    remittances.import_835(actor=biller, content=remit([remit_claim(claim, lines)],
                           billing=billing), posted_at=late)  # fmt: skip
    assert initial_denial_rate_parts(clinic, dst_day) == (0, 1)
    assert initial_denial_rate_parts(clinic, dst_day + dt.timedelta(days=1)) == (0, 0)
    rows, _ = selectors.ar_aging(clinic, as_of=dst_day)
    assert rows == []  # paid by 23:30 that local day
    rows, _ = selectors.ar_aging(clinic, as_of=dst_day - dt.timedelta(days=1))
    assert rows[0].total == claim.total_charge


def test_queue_remittance_and_pareto_pages_cost_the_same_queries_with_more_rows(
    client, biller, clinic, provider, patient, coverage, billing, fees, make_claim
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def deny(count: int, trace: str) -> Remittance:
        made = [
            submit(make_claim(checked_out_visit(clinic, provider=provider, patient=patient,
                                                coverage=coverage)))
            for _ in range(count)
        ]  # fmt: skip
        parts = []
        for c in made:
            lines = tuple(
                RemitLine(x.procedure_code, x.charge, D("0"), (Cas("CO", "16", x.charge),),
                          line_id=x.line_id)
                for x in c.lines.all()
            )  # fmt: skip
            parts.append(remit_claim(c, lines, status="4"))
        result = remittances.import_835(
            actor=biller, content=remit(parts, billing=billing, trace=trace)
        )
        assert result.remittance is not None
        return result.remittance

    client.force_login(biller)

    def count(url: str) -> int:
        client.get(url)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    first = deny(2, "Q1")
    urls = [reverse("revenue:denials"), reverse("revenue:pareto"), reverse("revenue:aging")]
    before = [count(u) for u in urls] + [count(reverse("revenue:remittance", args=[first.pk]))]
    second = deny(6, "Q2")
    after = [count(u) for u in urls] + [count(reverse("revenue:remittance", args=[second.pk]))]
    assert before == after
    assert max(after) <= 15


def test_the_desk_sees_the_open_balance_at_checkout(
    client, make_user, clinic, provider, patient, coverage, claim, billing, biller
):
    from patientflow.models import Step, Visit

    lines = paid_in_full_line(claim, contractual=D("5"), patient=D("10"))
    remittances.import_835(actor=biller, content=remit([remit_claim(claim, lines)],
                                                        billing=billing))  # fmt: skip
    today_visit = checked_out_visit(clinic, provider=provider, patient=patient,
                                    coverage=coverage, day=clinic.today())  # fmt: skip
    Visit.objects.filter(pk=today_visit.pk).update(step=Step.READY_FOR_CHECKOUT)
    client.force_login(make_user(roles.FRONT_DESK, username="desk"))
    page = client.get(reverse("patientflow:checkout", args=[today_visit.pk])).content.decode()
    assert "Open balance on the patient's claims: <strong>$20.00</strong>" in page
