"""The compliance officer's audit-log screen and its CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from django.test import Client
from django.urls import reverse

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, Patient, User
from clinicops.core.tests.factories import PatientFactory, StaffFactory
from compliance import selectors

pytestmark = pytest.mark.django_db

URL = reverse("compliance:audit_log")
EXPORT_URL = reverse("compliance:audit_export")
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "audit-results"}


@pytest.fixture
def officer_client(client: Client, compliance_officer: User) -> Client:
    client.force_login(compliance_officer)
    return client


@pytest.fixture
def patient(clinic: Clinic) -> Patient:
    return PatientFactory(clinic=clinic, first_name="Ada", last_name="Lovelace")


@pytest.fixture
def other_patient(other_clinic: Clinic) -> Patient:
    return PatientFactory(clinic=other_clinic, first_name="Grace", last_name="Hopper")


def at(when: datetime) -> mock._patch[mock.MagicMock]:
    """Record events as if at `when` (the audit clock is timezone.now)."""
    return mock.patch("django.utils.timezone.now", return_value=when)


def view(actor: object, obj: object, **fields: object) -> AuditEvent:
    return audit.record(actor=actor, action=AuditEvent.Action.VIEW, obj=obj, **fields)


def searches() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=AuditEvent.Action.SEARCH).order_by("id"))


def shown_seqs(response: object) -> list[int]:
    return [row.event.pk for row in response.context["rows"]]


# --- access ---------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [URL, EXPORT_URL])
def test_front_desk_is_refused(client: Client, front_desk: User, url: str) -> None:
    client.force_login(front_desk)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("url", [URL, EXPORT_URL])
def test_anonymous_users_are_sent_to_log_in(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_page_only_answers_get(officer_client: Client) -> None:
    assert officer_client.post(URL).status_code == 405


# --- the page -------------------------------------------------------------------------------


def test_the_officer_sees_who_saw_what_newest_first(
    officer_client: Client, front_desk: User, patient: Patient
) -> None:
    # given two reads of a patient, and a change with its before and after
    first = view(front_desk, patient)
    change = audit.record(
        actor=front_desk,
        action=AuditEvent.Action.UPDATE,
        obj=patient,
        changes={"phone": ["(555) 000-1111", "(555) 222-3333"]},
    )
    with audit.audit_context(ip_address="198.51.100.20"):
        last = view(front_desk, patient)
    # when the officer opens the log
    response = officer_client.get(URL)
    # then the events are listed newest first, with the patient's name and MRN, and the change
    assert response.status_code == 200
    assert shown_seqs(response)[:3] == [last.pk, change.pk, first.pk]
    html = response.content.decode()
    assert "<html" in html
    assert "Lovelace, Ada" in html
    assert patient.mrn in html
    assert "phone: (555) 000-1111 → (555) 222-3333" in html
    assert "198.51.100.20" in html
    assert "frontdesk" in html


def test_times_are_shown_in_the_current_clinics_time_zone(
    officer_client: Client, front_desk: User, patient: Patient
) -> None:
    # 03:30 UTC on 10 March 2026 is 23:30 the evening before in New York (EDT, UTC-4)
    with at(datetime(2026, 3, 10, 3, 30, tzinfo=UTC)):
        view(front_desk, patient)
    html = officer_client.get(URL).content.decode()
    assert "Mon 9 Mar 23:30" in html  # no ISO timestamp in the UI
    assert "America/New_York" in html


def test_patient_names_are_fetched_in_one_query_not_one_per_row(
    officer_client: Client,
    front_desk: User,
    clinic: Clinic,
    django_assert_max_num_queries: Callable[..., Any],
    django_assert_num_queries: Callable[..., Any],
) -> None:
    for patient in PatientFactory.create_batch(3, clinic=clinic):
        view(front_desk, patient)
    officer_client.get(URL)  # warm up: session, permissions
    with django_assert_max_num_queries(30) as few:
        response = officer_client.get(URL, {"action": "view"})
    assert len(response.context["rows"]) == 3
    for patient in PatientFactory.create_batch(30, clinic=clinic):
        view(front_desk, patient)
    with django_assert_num_queries(len(few.captured_queries)):
        response = officer_client.get(URL, {"action": "view"})
    assert len(response.context["rows"]) == 33


def test_viewing_the_log_is_itself_audited(
    client: Client, compliance_officer: User, clinic: Clinic, patient: Patient
) -> None:
    client.force_login(compliance_officer)
    client.get(
        URL,
        {"patient": patient.mrn, "action": "view", "date_from": "2026-01-01"},
        REMOTE_ADDR="203.0.113.5",
    )
    [search] = searches()
    assert search.actor == compliance_officer
    assert search.ip_address == "203.0.113.5"
    assert search.patient_id == patient.pk
    assert search.clinic_id == clinic.pk
    assert "patient filter matching 1 patient(s)" in search.summary
    assert "action “Viewed”" in search.summary
    assert "from 2026-01-01" in search.summary
    assert patient.mrn not in search.summary  # the typed text is PHI: the ids are kept instead
    assert search.changes == {"patient_ids": [patient.pk]}


def test_an_empty_result_says_so(officer_client: Client) -> None:
    response = officer_client.get(URL, {"action": "export"})
    assert "No audit events match these filters." in response.content.decode()


# --- scoping --------------------------------------------------------------------------------


def test_an_officer_sees_only_their_clinics_events(
    officer_client: Client,
    front_desk: User,
    make_user: Callable[..., User],
    other_clinic: Clinic,
    patient: Patient,
    other_patient: Patient,
) -> None:
    # given a colleague's sign-in, a reader in another clinic, and a failed login
    mine = view(front_desk, patient)
    colleague_login = audit.record(actor=front_desk, action=AuditEvent.Action.LOGIN, obj=front_desk)
    stranger = make_user(roles.FRONT_DESK, clinics=[other_clinic], username="stranger")
    theirs = view(stranger, other_patient)
    stranger_login = audit.record(actor=stranger, action=AuditEvent.Action.LOGIN, obj=stranger)
    failed = audit.record(actor=None, action=AuditEvent.Action.LOGIN_FAILED, summary="bad")
    # when the officer of the first clinic opens the log
    response = officer_client.get(URL)
    # then they see their clinic's events and their colleagues' sign-ins, nothing else
    seqs = shown_seqs(response)
    assert mine.pk in seqs
    assert colleague_login.pk in seqs
    assert not {theirs.pk, stranger_login.pk, failed.pk} & set(seqs)
    assert "Hopper" not in response.content.decode()


def test_a_superuser_sees_every_event_including_failed_logins(
    client: Client, django_user_model: type[User]
) -> None:
    failed = audit.record(actor=None, action=AuditEvent.Action.LOGIN_FAILED, summary="bad")
    admin = django_user_model.objects.create_superuser("root", "root@example.org", "x" * 16)
    client.force_login(admin)
    assert failed.pk in shown_seqs(client.get(URL))


def test_filtering_by_another_clinics_patient_finds_nothing(
    officer_client: Client,
    make_user: Callable[..., User],
    other_clinic: Clinic,
    other_patient: Patient,
) -> None:
    stranger = make_user(roles.FRONT_DESK, clinics=[other_clinic], username="stranger")
    view(stranger, other_patient)
    response = officer_client.get(URL, {"patient": other_patient.mrn})
    assert response.context["rows"] == []


# --- filters --------------------------------------------------------------------------------


@pytest.fixture
def mixed_events(
    front_desk: User, make_user: Callable[..., User], patient: Patient, clinic: Clinic
) -> dict[str, AuditEvent]:
    nurse = make_user(roles.NURSE, username="nurse", first_name="Nora", last_name="Quinn")
    other = PatientFactory(clinic=clinic, first_name="Alan", last_name="Turing")
    with at(datetime(2026, 3, 1, 15, 0, tzinfo=UTC)):
        early = view(front_desk, patient)
    with at(datetime(2026, 3, 5, 15, 0, tzinfo=UTC)):
        by_nurse = view(nurse, other)
    with at(datetime(2026, 3, 9, 15, 0, tzinfo=UTC)):
        changed = audit.record(
            actor=front_desk,
            action=AuditEvent.Action.UPDATE,
            obj=patient,
            changes={"city": ["a", "b"]},
        )
    return {"early": early, "by_nurse": by_nurse, "changed": changed}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"patient": "lovelace"}, ["changed", "early"]),
        ({"patient": "Lovelace, Ada"}, ["changed", "early"]),
        ({"patient": "turing"}, ["by_nurse"]),
        ({"user": "nurse"}, ["by_nurse"]),
        ({"user": "Nora Quinn"}, ["by_nurse"]),
        ({"user": "FRONTDESK"}, ["changed", "early"]),
        ({"action": "update"}, ["changed"]),
        ({"date_from": "2026-03-05"}, ["changed", "by_nurse"]),
        ({"date_to": "2026-03-05"}, ["by_nurse", "early"]),
        ({"date_from": "2026-03-02", "date_to": "2026-03-08"}, ["by_nurse"]),
        ({"patient": "lovelace", "action": "view"}, ["early"]),
        ({"patient": "nobody-by-that-name"}, []),
    ],
)
def test_filters(
    officer_client: Client,
    mixed_events: dict[str, AuditEvent],
    params: dict[str, str],
    expected: list[str],
) -> None:
    response = officer_client.get(URL, params)
    assert response.status_code == 200
    names = {e.pk: name for name, e in mixed_events.items()}
    assert [names[seq] for seq in shown_seqs(response) if seq in names] == expected


def test_the_patient_filter_by_mrn(
    officer_client: Client, mixed_events: dict[str, AuditEvent], patient: Patient
) -> None:
    response = officer_client.get(URL, {"patient": patient.mrn})
    assert shown_seqs(response) == [mixed_events["changed"].pk, mixed_events["early"].pk]


def test_an_mrn_that_also_reads_as_a_date_still_finds_the_patient(
    officer_client: Client, front_desk: User, clinic: Clinic
) -> None:
    patient = PatientFactory(clinic=clinic, mrn="10135002")  # also "10/13/5002"
    event = view(front_desk, patient)
    assert shown_seqs(officer_client.get(URL, {"patient": "10135002"})) == [event.pk]


def test_date_filters_use_the_clinics_local_day(
    officer_client: Client, front_desk: User, patient: Patient
) -> None:
    # 02:00 UTC on 6 March is still 5 March in New York
    with at(datetime(2026, 3, 6, 2, 0, tzinfo=UTC)):
        late_evening = view(front_desk, patient)
    assert shown_seqs(officer_client.get(URL, {"date_to": "2026-03-05"})) == [late_evening.pk]
    assert late_evening.pk not in shown_seqs(officer_client.get(URL, {"date_from": "2026-03-06"}))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date_from": "2026-02-30"}, "From: Enter a valid date."),
        ({"date_to": "yesterday"}, "To: Enter a valid date."),
        ({"date_to": "9999-12-31"}, "To: Enter a date between 2000-01-01 and 2999-12-31."),
        (
            {"action": "peek"},
            "Action: Select a valid choice. peek is not one of the available choices.",
        ),
        (
            {"date_from": "2026-03-09", "date_to": "2026-03-01"},
            "To: “To” must be on or after “From”.",
        ),
        ({"before": "abc"}, "Older than event: Enter a whole number."),
        ({"user": "a\x00b"}, "User: Null characters are not allowed."),
        ({"patient": "x" * 101}, "Patient: Ensure this value has at most 100 characters"),
    ],
)
@pytest.mark.parametrize("url", [URL, EXPORT_URL])
def test_bad_filters_get_a_message_naming_the_field_and_search_nothing(
    officer_client: Client, params: dict[str, str], message: str, url: str
) -> None:
    response = officer_client.get(url, params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert message.replace("“", "&ldquo;").replace("”", "&rdquo;") in html or message in html
    assert searches() == []
    assert not AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT).exists()


def test_a_too_broad_patient_filter_asks_for_more(
    officer_client: Client, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selectors, "MAX_MATCHED_PATIENTS", 2)
    PatientFactory.create_batch(3, clinic=clinic, last_name="Smith")
    html = officer_client.get(URL, {"patient": "smith"}).content.decode()
    assert "Patient: More than 2 patients match" in html


# --- htmx and paging ------------------------------------------------------------------------


def test_htmx_gets_only_the_results_and_the_error_summary(
    officer_client: Client, front_desk: User, patient: Patient
) -> None:
    view(front_desk, patient)
    response = officer_client.get(URL, {"action": "view"}, **HTMX)
    html = response.content.decode()
    assert "<html" not in html
    assert "<form" not in html
    assert 'id="audit-results"' in html
    assert 'id="audit-filter-errors" hx-swap-oob="true"' in html
    assert "Lovelace, Ada" in html


def test_htmx_with_bad_filters_swaps_the_errors_into_the_form(officer_client: Client) -> None:
    html = officer_client.get(URL, {"date_from": "nope"}, **HTMX).content.decode()
    assert "<form" not in html
    assert 'hx-swap-oob="true"' in html
    assert "From: Enter a valid date." in html


def test_the_same_url_is_a_full_page_on_reload_or_history_restore(officer_client: Client) -> None:
    html = officer_client.get(URL, {"action": "view"}).content.decode()
    assert "<html" in html
    assert 'hx-push-url="true"' in html
    assert 'value="view" selected' in html
    restored = officer_client.get(
        URL, {"action": "view"}, **HTMX, HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    assert "<html" in restored.content.decode()


def test_older_pages_follow_without_gaps_or_repeats(
    officer_client: Client, front_desk: User, patient: Patient
) -> None:
    # given more events than fit on a page, several in the same microsecond
    same_instant = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    with at(same_instant):
        events = [view(front_desk, patient) for _ in range(selectors.PAGE_SIZE + 7)]
    # when the officer pages back
    first = officer_client.get(URL, {"action": "view"})
    assert first.context["older_than"] is not None
    older = officer_client.get(
        URL, {"action": "view", "before": first.context["older_than"]}, **HTMX
    )
    # then every event is shown once, newest first
    assert shown_seqs(first) + shown_seqs(older) == [e.pk for e in reversed(events)]
    assert older.context["older_than"] is None
    assert "Older events" in first.content.decode()


def test_newer_pages_walk_back_to_the_newest_without_gaps_or_repeats(
    officer_client: Client, front_desk: User, patient: Patient
) -> None:
    # given two and a half pages of events, some sharing an instant across a page boundary
    with at(datetime(2026, 3, 2, 12, 0, tzinfo=UTC)):
        events = [view(front_desk, patient) for _ in range(selectors.PAGE_SIZE + 3)]
    with at(datetime(2026, 3, 2, 12, 5, tzinfo=UTC)):
        events += [view(front_desk, patient) for _ in range(selectors.PAGE_SIZE + 20)]
    newest_first = [e.pk for e in reversed(events)]
    size = selectors.PAGE_SIZE
    # when the officer pages back twice, then forward twice
    first = officer_client.get(URL, {"action": "view"})
    second = officer_client.get(URL, {"action": "view", "before": first.context["older_than"]})
    third = officer_client.get(URL, {"action": "view", "before": second.context["older_than"]})
    assert first.context["newer_than"] is None
    assert third.context["older_than"] is None
    back = officer_client.get(URL, {"action": "view", "after": third.context["newer_than"]}, **HTMX)
    front = officer_client.get(URL, {"action": "view", "after": back.context["newer_than"]})
    # then each page going forward is the same page as going back, and the ends say so
    assert shown_seqs(first) + shown_seqs(second) + shown_seqs(third) == newest_first
    assert shown_seqs(back) == shown_seqs(second) == newest_first[size : 2 * size]
    assert shown_seqs(front) == newest_first[:size]
    assert front.context["newer_than"] is None
    html = back.content.decode()
    assert "Newer events" in html
    assert "Older events" in html
    assert "more are older and newer" in html
    assert "Newer events" not in first.content.decode()
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.SEARCH, summary__contains="newer than event id"
    ).exists()


def test_a_newer_cursor_with_nothing_newer_shows_the_newest_page(
    officer_client: Client, front_desk: User, patient: Patient
) -> None:
    events = [view(front_desk, patient) for _ in range(3)]
    response = officer_client.get(URL, {"action": "view", "after": events[-1].pk})
    assert shown_seqs(response) == [e.pk for e in reversed(events)]
    assert response.context["newer_than"] is None


# --- CSV export -----------------------------------------------------------------------------


def read_csv(response: object) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    return list(csv.DictReader(io.StringIO(body)))


def test_the_csv_holds_the_filtered_rows_and_the_export_is_audited(
    officer_client: Client,
    compliance_officer: User,
    mixed_events: dict[str, AuditEvent],
    patient: Patient,
) -> None:
    response = officer_client.get(EXPORT_URL, {"patient": "lovelace"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-log-')
    rows = read_csv(response)
    assert [int(r["event_id"]) for r in rows] == [
        mixed_events["changed"].pk,
        mixed_events["early"].pk,
    ]
    assert rows[0]["patient"] == "Ada Lovelace"
    assert rows[0]["mrn"] == patient.mrn
    assert rows[0]["changes"] == "city: a → b"
    assert rows[0]["time"] == "2026-03-09T11:00:00-04:00"  # New York, daylight time
    [export] = AuditEvent.objects.filter(action=AuditEvent.Action.EXPORT)
    assert export.actor == compliance_officer
    assert export.summary.endswith("; 2 event(s)")


def test_the_csv_is_scoped_and_spans_every_page(
    officer_client: Client,
    front_desk: User,
    patient: Patient,
    make_user: Callable[..., User],
    other_clinic: Clinic,
    other_patient: Patient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("compliance.views.EXPORT_BATCH", 4)
    mine = [view(front_desk, patient) for _ in range(10)]
    stranger = make_user(roles.FRONT_DESK, clinics=[other_clinic], username="stranger")
    view(stranger, other_patient)
    rows = read_csv(officer_client.get(EXPORT_URL, {"action": "view"}))
    assert [int(r["event_id"]) for r in rows] == [e.pk for e in reversed(mine)]


def test_csv_cells_cannot_run_as_spreadsheet_formulas(
    officer_client: Client, front_desk: User, clinic: Clinic
) -> None:
    patient = PatientFactory(clinic=clinic, first_name='=HYPERLINK("http://x")', last_name="Doe")
    view(front_desk, patient, summary="+1 evil")
    [row] = read_csv(officer_client.get(EXPORT_URL, {"action": "view"}))
    assert row["patient"].startswith("'=HYPERLINK")
    assert row["summary"] == "'+1 evil"


def test_a_staff_member_in_two_clinics_is_visible_to_both_officers(
    client: Client, clinic: Clinic, other_clinic: Clinic, make_user: Callable[..., User]
) -> None:
    floater = StaffFactory(roles=[roles.NURSE], clinics=[clinic, other_clinic]).user
    login = audit.record(actor=floater, action=AuditEvent.Action.LOGIN, obj=floater)
    other_officer = make_user(roles.COMPLIANCE, clinics=[other_clinic], username="officer2")
    client.force_login(other_officer)
    assert login.pk in shown_seqs(client.get(URL))
