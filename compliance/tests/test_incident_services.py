"""The incident workflow in the services: report, triage, analysis, actions, verification,
closing, reopening; illegal moves refused with a message; every change audited; the same
request twice changes nothing the second time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.utils import timezone

from clinicops.audit.models import AuditEvent
from clinicops.core import roles
from clinicops.core.models import Clinic, User
from clinicops.core.tests.factories import PatientFactory
from compliance import incidents
from compliance.incident_states import IllegalMove
from compliance.models import CorrectiveAction, Flag, Incident

from .incident_helpers import add, analysed, investigating, report, triaged

pytestmark = pytest.mark.django_db


@pytest.fixture
def officer(make_user: Callable[..., User]) -> User:
    return make_user(roles.COMPLIANCE, username="officer", email="officer@example.com")


@pytest.fixture
def manager(make_user: Callable[..., User]) -> User:
    return make_user(roles.MANAGER, username="manager", email="manager@example.com")


def events(obj: Incident | CorrectiveAction) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            object_type=obj._meta.label_lower, object_id=str(obj.pk)
        ).order_by("id")
    )


def test_the_workflow_runs_from_report_through_verification_to_closed(
    officer: User, manager: User, clinic: Clinic
) -> None:
    # given a reported incident about a patient
    patient = PatientFactory(clinic=clinic)
    incident = report(officer, clinic, patient=patient, witnesses="Dana (MA)")
    assert incident.status == "reported"

    # when it is triaged, investigated, analysed, acted on, verified and closed
    incident = incidents.triage(
        actor=officer,
        incident=incident,
        priority="high",
        lead=officer,
        category="identification",
        harm="mild",
        expected="reported",
    ).obj
    incident = incidents.start_investigation(
        actor=officer, incident=incident, expected="triaged"
    ).obj
    incidents.save_analysis(
        actor=officer,
        incident=incident,
        whys=["a", "", "b"],
        fishbone={"people": "New starter", "equipment": ""},
        root_cause="Batch labels",
    )
    action = add(officer, incident, manager)
    incident = incidents.finish_analysis(
        actor=officer, incident=incident, expected="investigating"
    ).obj
    incidents.complete_action(actor=manager, action=action, note="Printers installed")
    incidents.verify_action(
        actor=officer, action=action, effective=True, note="20 charts audited, no mislabels"
    )
    closed = incidents.close_incident(actor=officer, incident=incident, expected="acting").obj

    # then it is closed with no reason needed, and every step is in the audit trail
    closed.refresh_from_db()
    assert (closed.status, closed.close_reason, closed.closed_by) == ("closed", "", officer)
    assert closed.whys == ["a", "b"]
    assert closed.fishbone == {"people": "New starter"}
    assert closed.harm == "mild"
    summaries = [e.summary for e in events(closed)]
    assert summaries[0].startswith("Reported incident")
    assert any("triaged" in s for s in summaries)
    assert summaries[-1] == f"Incident {closed.pk} closed"
    assert all(e.patient_id == patient.pk and e.clinic_id == clinic.pk for e in events(closed))
    assert [e.summary.split(": ")[-1] for e in events(action)] == [
        "corrective action added",
        "done",
        "verified effective",
    ]


def test_illegal_moves_are_refused_with_a_message_and_change_nothing(
    officer: User, clinic: Clinic
) -> None:
    incident = report(officer, clinic)
    before = AuditEvent.objects.count()

    with pytest.raises(
        IllegalMove, match="Start the investigation is not possible: the incident is reported"
    ):
        incidents.start_investigation(actor=officer, incident=incident)
    with pytest.raises(IllegalMove, match="works from: investigating"):
        incidents.finish_analysis(actor=officer, incident=incident)
    with pytest.raises(IllegalMove, match="Reopen is not possible"):
        incidents.reopen_incident(actor=officer, incident=incident, reason="x")
    with pytest.raises(IllegalMove, match="Actions can be added once the incident is triaged"):
        add(officer, incident, officer)

    incident.refresh_from_db()
    assert incident.status == "reported"
    assert AuditEvent.objects.count() == before


def test_the_analysis_must_be_complete_before_the_actions(officer: User, clinic: Clinic) -> None:
    incident = investigating(officer, clinic)
    with pytest.raises(incidents.Refused) as refused:
        incidents.finish_analysis(actor=officer, incident=incident)
    message = str(refused.value)
    assert "write the root cause" in message
    assert "add at least one corrective" in message
    assert Incident.objects.get(pk=incident.pk).status == "investigating"


def test_closing_needs_every_action_verified_or_a_stated_reason(
    officer: User, manager: User, clinic: Clinic
) -> None:
    incident = analysed(officer, clinic, manager)
    action = incident.actions.get()

    with pytest.raises(incidents.Refused, match="1 action\\(s\\) are not verified effective yet"):
        incidents.close_incident(actor=officer, incident=incident)
    incidents.complete_action(actor=manager, action=action, note="done")
    with pytest.raises(incidents.Refused, match="not verified effective yet"):
        incidents.close_incident(actor=officer, incident=incident)

    # with a stated reason it closes, and says so
    closed = incidents.close_incident(
        actor=officer, incident=incident, reason="Clinic merged into Hillcrest; tracked there"
    ).obj
    assert closed.status == "closed"
    assert closed.close_reason.startswith("Clinic merged")
    event = events(closed)[-1]
    assert event.changes["actions_pending"] == 1
    assert "stated reason" in event.summary


def test_a_reported_incident_closes_only_with_a_reason(officer: User, clinic: Clinic) -> None:
    incident = report(officer, clinic)
    with pytest.raises(incidents.Refused, match="its analysis and actions are not finished"):
        incidents.close_incident(actor=officer, incident=incident)
    closed = incidents.close_incident(
        actor=officer, incident=incident, reason="Duplicate of 12"
    ).obj
    assert closed.status == "closed"


def test_verification_is_by_someone_other_than_the_owner_and_a_failure_reopens_the_action(
    officer: User, manager: User, clinic: Clinic
) -> None:
    incident = analysed(officer, clinic, manager)
    own = add(officer, incident, officer, description="Retrain the officer")
    incidents.complete_action(actor=officer, action=own, note="Trained")
    with pytest.raises(incidents.Refused, match="other than the action's owner"):
        incidents.verify_action(actor=officer, action=own, effective=True, note="ok")

    action = incident.actions.exclude(pk=own.pk).get()
    incidents.complete_action(actor=manager, action=action, note="Printers installed")
    new_due = clinic.today() + timedelta(days=7)
    failed = incidents.verify_action(
        actor=officer,
        action=action,
        effective=False,
        note="Two mislabels this week",
        new_due_date=new_due,
    ).obj
    assert (failed.status, failed.due_date, failed.completed_at) == ("open", new_due, None)
    with pytest.raises(IllegalMove, match="only an action marked done can be verified"):
        incidents.verify_action(actor=officer, action=action, effective=True, note="again")


def test_the_same_request_twice_changes_nothing_the_second_time(
    officer: User, manager: User, clinic: Clinic
) -> None:
    # a report with its submission key
    first = incidents.report_incident(
        actor=officer,
        clinic=clinic,
        kind="near_miss",
        title="Look-alike vials",
        description="Caught at the pass",
        location="Med room",
        occurred_at=timezone.now(),
        category="medication",
        harm="not_reached",
        submission_key="k-1",
    )
    again = incidents.report_incident(
        actor=officer,
        clinic=clinic,
        kind="near_miss",
        title="Look-alike vials",
        description="Caught at the pass",
        location="Med room",
        occurred_at=timezone.now(),
        category="medication",
        harm="not_reached",
        submission_key="k-1",
    )
    assert again.replayed
    assert again.obj.pk == first.obj.pk
    assert Incident.objects.count() == 1
    incident = first.obj

    def audited() -> int:
        return AuditEvent.objects.count()

    # each move, sent twice with the status the page showed
    steps: list[Callable[[], incidents.Outcome]] = [
        lambda: incidents.triage(
            actor=officer,
            incident=incident,
            priority="low",
            lead=officer,
            category="medication",
            harm="not_reached",
            expected="reported",
        ),
        lambda: incidents.start_investigation(actor=officer, incident=incident, expected="triaged"),
    ]
    for step in steps:
        assert not step().replayed
        count = audited()
        assert step().replayed
        assert audited() == count

    key_action = {"submission_key": "a-1"}
    action = add(officer, incident, manager, **key_action)
    count = audited()
    assert add(officer, incident, manager, **key_action).pk == action.pk
    assert incident.actions.count() == 1
    assert audited() == count

    for call in (
        lambda: incidents.complete_action(actor=manager, action=action, note="Done"),
        lambda: incidents.verify_action(actor=officer, action=action, effective=True, note="Seen"),
    ):
        assert not call().replayed
        count = audited()
        assert call().replayed
        assert audited() == count

    incidents.save_analysis(
        actor=officer, incident=incident, whys=["w"], fishbone={}, root_cause="r"
    )
    count = audited()
    assert incidents.save_analysis(
        actor=officer, incident=incident, whys=["w"], fishbone={}, root_cause="r"
    ).replayed
    assert audited() == count

    incidents.finish_analysis(actor=officer, incident=incident, expected="investigating")
    assert incidents.finish_analysis(
        actor=officer, incident=incident, expected="investigating"
    ).replayed
    incidents.close_incident(actor=officer, incident=incident, expected="acting")
    count = audited()
    assert incidents.close_incident(actor=officer, incident=incident, expected="acting").replayed
    assert audited() == count
    incidents.reopen_incident(actor=officer, incident=incident, reason="Again", expected="closed")
    count = audited()
    assert incidents.reopen_incident(
        actor=officer, incident=incident, reason="Again", expected="closed"
    ).replayed
    assert audited() == count
    assert Incident.objects.get(pk=incident.pk).reopen_count == 1


def test_a_stale_page_is_refused_with_what_happened(officer: User, clinic: Clinic) -> None:
    incident = investigating(officer, clinic)
    with pytest.raises(
        IllegalMove, match="changed while you were looking at it: it is now investigating"
    ):
        incidents.close_incident(actor=officer, incident=incident, reason="x", expected="reported")


def test_reopening_needs_a_reason_and_clears_the_closing(officer: User, clinic: Clinic) -> None:
    incident = report(officer, clinic)
    incidents.close_incident(actor=officer, incident=incident, reason="Not an incident")
    with pytest.raises(incidents.Refused, match="Reason: say why"):
        incidents.reopen_incident(actor=officer, incident=incident, reason="  ")
    reopened = incidents.reopen_incident(
        actor=officer, incident=incident, reason="It happened again"
    ).obj
    assert (reopened.status, reopened.closed_at, reopened.close_reason) == (
        "investigating",
        None,
        "",
    )
    assert events(reopened)[-1].changes["reason"] == "It happened again"


def test_near_miss_and_harm_must_agree(officer: User, clinic: Clinic) -> None:
    with pytest.raises(incidents.Refused, match="did not reach anyone"):
        report(officer, clinic, kind="near_miss", harm="mild")
    with pytest.raises(incidents.Refused, match="An incident reached someone"):
        report(officer, clinic, kind="incident", harm="not_reached")
    with pytest.raises(incidents.Refused, match="future"):
        report(officer, clinic, occurred_at=timezone.now() + timedelta(hours=2))
    assert not Incident.objects.exists()


def test_an_action_owner_must_work_at_the_clinic_and_the_due_date_is_not_past(
    officer: User, clinic: Clinic, other_clinic: Clinic, make_user: Callable[..., User]
) -> None:
    incident = triaged(officer, clinic)
    stranger = make_user(roles.NURSE, clinics=[other_clinic], username="stranger")
    with pytest.raises(incidents.Refused, match="Owner: choose someone who works at"):
        add(officer, incident, stranger)
    with pytest.raises(incidents.Refused, match="Due date"):
        add(officer, incident, officer, due_date=clinic.today() - timedelta(days=1))


def test_linked_audit_events_must_be_visible_and_link_once(
    officer: User, clinic: Clinic, other_clinic: Clinic
) -> None:
    incident = report(officer, clinic)
    mine = AuditEvent.objects.filter(clinic_id=clinic.pk).order_by("id").first()
    assert mine is not None
    theirs = report(officer, other_clinic)  # the officer does not work there
    foreign = AuditEvent.objects.get(object_id=str(theirs.pk), object_type="compliance.incident")

    link = incidents.link_audit_event(actor=officer, incident=incident, event_id=mine.pk).obj
    assert incidents.link_audit_event(actor=officer, incident=incident, event_id=mine.pk).replayed
    with pytest.raises(incidents.Refused, match=f"Audit event {foreign.pk}: no such event"):
        incidents.link_audit_event(actor=officer, incident=incident, event_id=foreign.pk)
    assert list(incident.audit_links.values_list("event_id", flat=True)) == [link.event_id]


def test_a_flag_turned_into_an_incident_is_linked_and_looked_into(
    officer: User, clinic: Clinic, other_clinic: Clinic
) -> None:
    flag = Flag.objects.create(
        clinic=clinic, description="Fridge at 11 °C", created_at=timezone.now()
    )
    incident = report(officer, clinic, flag=flag)
    flag.refresh_from_db()
    assert list(incident.flags.all()) == [flag]
    assert flag.status == "in_progress"
    # linking it again changes nothing; a flag of another clinic is refused
    assert incidents.link_flag(actor=officer, incident=incident, flag=flag).replayed
    elsewhere = Flag.objects.create(clinic=other_clinic, description="x", created_at=timezone.now())
    with pytest.raises(incidents.Refused, match="another clinic"):
        incidents.link_flag(actor=officer, incident=incident, flag=elsewhere)


def test_actions_of_a_closed_incident_cannot_change(
    officer: User, manager: User, clinic: Clinic
) -> None:
    incident = analysed(officer, clinic, manager)
    incidents.close_incident(actor=officer, incident=incident, reason="Superseded by incident 9")
    with pytest.raises(IllegalMove, match="Reopen it first"):
        incidents.complete_action(actor=manager, action=incident.actions.get(), note="late")


def test_monthly_counts_use_the_clinic_local_month(officer: User, clinic: Clinic) -> None:
    # 2026-01-31 23:30 in New York is 2026-02-01 04:30 UTC: January locally
    from datetime import datetime

    report(officer, clinic, occurred_at=datetime(2026, 1, 31, 23, 30, tzinfo=clinic.tz))
    report(
        officer,
        clinic,
        occurred_at=datetime(2026, 2, 1, 0, 30, tzinfo=clinic.tz),
        category="fall",
        harm="moderate",
    )
    report(
        officer,
        clinic,
        kind="near_miss",
        harm="not_reached",
        category="fall",
        occurred_at=datetime(2026, 2, 14, 12, tzinfo=clinic.tz),
    )

    by_category = incidents.monthly_by_category(clinic, 2026)
    by_harm = incidents.monthly_by_harm(clinic, 2026)

    rows = {value: counts for value, _, counts, _ in by_category.rows}
    assert rows["identification"][:2] == (1, 0)
    assert rows["fall"][:2] == (0, 2)
    harm = {value: total for value, _, _, total in by_harm.rows}
    assert (harm["no_harm"], harm["moderate"], harm["not_reached"]) == (1, 1, 1)
    assert by_category.totals[:3] == (1, 2, 0)
    assert by_category.total == 3


def test_an_open_actions_owner_and_due_date_change_with_a_reason_once(
    officer: User,
    manager: User,
    clinic: Clinic,
    other_clinic: Clinic,
    make_user: Callable[..., User],
) -> None:
    incident = analysed(officer, clinic, manager)
    action = incident.actions.get()
    action.overdue_alerted_at = timezone.now()
    action.save()
    later = clinic.today() + timedelta(days=21)
    # refused, changing nothing: no reason, an owner from elsewhere, a past day
    with pytest.raises(incidents.Refused, match="Why: say why"):
        incidents.reassign_action(
            actor=officer, action=action, owner=officer, due_date=later, reason=" "
        )
    stranger = make_user(roles.NURSE, clinics=[other_clinic], username="stranger")
    with pytest.raises(incidents.Refused, match="Owner: choose someone who works at"):
        incidents.reassign_action(
            actor=officer, action=action, owner=stranger, due_date=later, reason="Leave"
        )
    with pytest.raises(incidents.Refused, match="Due date: choose today or a later day"):
        incidents.reassign_action(
            actor=officer,
            action=action,
            owner=officer,
            due_date=clinic.today() - timedelta(days=1),
            reason="Leave",
        )
    action.refresh_from_db()
    assert action.owner == manager
    # changed: both, audited with before and after, the overdue alert may come again
    changed = incidents.reassign_action(
        actor=officer, action=action, owner=officer, due_date=later, reason="Manager on leave"
    )
    assert not changed.replayed
    action.refresh_from_db()
    assert (action.owner, action.due_date, action.overdue_alerted_at) == (officer, later, None)
    last = events(action)[-1]
    assert last.summary == (
        f"Incident {incident.pk}, action {action.pk}: owner and due date changed"
    )
    assert last.changes["owner"] == ["manager", "officer"]
    assert last.changes["reason"] == "Manager on leave"
    # the same change again changes nothing and records nothing
    count = len(events(action))
    again = incidents.reassign_action(
        actor=officer, action=action, owner=officer, due_date=later, reason="Manager on leave"
    )
    assert again.replayed
    assert len(events(action)) == count
    # an action marked done keeps its owner
    incidents.complete_action(actor=officer, action=action, note="Labels reprinted")
    with pytest.raises(IllegalMove, match="only an open action changes owner or due date"):
        incidents.reassign_action(
            actor=officer, action=action, owner=manager, due_date=later, reason="x"
        )
