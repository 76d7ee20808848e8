"""Incidents and near misses: the services (each one transaction, audited last) and the reads.

Every move of an incident goes through `_begin`, which locks the row and applies the state
machine (`incident_states`). A form carries the status the officer saw (`expected`): sent twice,
the second request finds the incident already where the first one left it and changes nothing
(`Outcome.replayed`); sent after someone else moved it, it is refused with what happened.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import ExtractMonth
from django.urls import reverse
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core.models import Clinic, Patient, User

from . import flags as flag_services
from . import incident_states as states
from . import selectors
from .incident_states import IllegalMove
from .models import CorrectiveAction, Flag, Incident, IncidentAuditLink

__all__ = ["IllegalMove", "Refused"]

S = Incident.Status
A = CorrectiveAction.Status
# A report may say it happened a little in the future of the server's clock (a slow clock on
# the workstation), not more.
CLOCK_SLACK = timedelta(minutes=5)
INCIDENT_FIELDS = ("status", "priority", "lead_id", "harm", "category", "triage_note")
ANALYSIS_FIELDS = ("whys", "fishbone", "root_cause")
# Who is told about an overdue action besides its owner: whoever may verify actions there.
OFFICER_PERMISSION = "compliance.verify_correctiveaction"


class Refused(Exception):
    """Input a service will not store; the message says which field and why."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Outcome[T]:
    """What a service stored (read back), and whether this request was a repeat that changed
    nothing."""

    obj: T
    replayed: bool = False


def lock_row[M: (Incident, CorrectiveAction)](
    model: type[M], obj: M | int, *, related: Sequence[str] = ()
) -> M:
    """Lock one row FOR UPDATE (with `related` joined, not locked); `servicekit.lock_row`
    without its argument-less select_related(), which Django 6.1 deprecates."""
    pk = obj if isinstance(obj, int) else obj.pk
    rows = model._default_manager.select_for_update(of=("self",))
    if related:
        rows = rows.select_related(*related)
    return rows.get(pk=pk)


def _audit(
    actor: Any, action: str, obj: Incident | CorrectiveAction, summary: str, changes: Any = None
) -> None:
    incident = obj if isinstance(obj, Incident) else obj.incident
    audit.record(
        actor=actor,
        action=action,
        obj=obj,
        patient=incident.patient_id,
        clinic=incident.clinic_id,
        summary=summary,
        changes=changes or {},
    )


def _begin(incident: Incident | int, move: str, expected: str) -> tuple[Incident, bool]:
    """Lock the incident; (it, True) when the move was already made (a repeat), else check the
    move is legal now. Call inside a transaction."""
    locked = lock_row(Incident, incident)
    if expected and locked.status != expected:
        if locked.status == states.target(move) and expected in states.MOVES[move][0]:
            return locked, True
        raise IllegalMove(
            f"Incident {locked.pk} changed while you were looking at it: it is now "
            f"{locked.get_status_display().lower()}. Reload the page to see what changed."
        )
    states.check(move, locked.status)
    return locked, False


def _staff_of(clinic_id: int) -> QuerySet[User]:
    return User.objects.filter(is_active=True, staff__clinics=clinic_id).distinct()


def leads_for(clinic: Clinic) -> QuerySet[User]:
    """Who may lead an investigation at the clinic: its staff who may work incidents."""
    ids = User.objects.with_perm(
        "compliance.change_incident",
        include_superusers=False,
        backend="django.contrib.auth.backends.ModelBackend",
    ).values("pk")
    return _staff_of(clinic.pk).filter(pk__in=ids).order_by("last_name", "first_name", "pk")


def owners_for(clinic: Clinic) -> QuerySet[User]:
    """Who may own a corrective action: any active member of the clinic's staff."""
    return _staff_of(clinic.pk).order_by("last_name", "first_name", "pk")


# ---- reporting ------------------------------------------------------------------------------


def check_kind_and_harm(kind: str, harm: str) -> None:
    """A near miss or an unsafe condition reached no one; an incident did."""
    if kind != Incident.Kind.INCIDENT and harm != Incident.Harm.NOT_REACHED:
        raise Refused(
            "A near miss or an unsafe condition did not reach anyone: choose “Did not reach "
            "a patient or person”, or report it as an incident.",
            "harm",
        )
    if kind == Incident.Kind.INCIDENT and harm == Incident.Harm.NOT_REACHED:
        raise Refused(
            "An incident reached someone: choose its harm (or “Unknown”), or report it as a "
            "near miss.",
            "harm",
        )


def report_incident(
    *,
    actor: User,
    clinic: Clinic,
    kind: str,
    title: str,
    description: str,
    location: str,
    occurred_at: datetime,
    category: str,
    harm: str,
    patient: Patient | None = None,
    witnesses: str = "",
    immediate_action: str = "",
    submission_key: str = "",
    flag: Flag | None = None,
) -> Outcome[Incident]:
    """Store a new incident (status "reported"); the same submission key twice stores one."""
    kind, category, harm = (
        Incident.Kind(kind).value,
        Incident.Category(category).value,
        Incident.Harm(harm).value,
    )
    check_kind_and_harm(kind, harm)
    now = timezone.now()
    if occurred_at > now + CLOCK_SLACK:
        raise Refused("When: the incident cannot have happened in the future.", "occurred_at")
    if patient is not None and patient.clinic_id != clinic.pk:
        raise Refused(f"Patient: not a patient of {clinic.name}.", "patient_mrn")
    if flag is not None and flag.clinic_id != clinic.pk:
        raise Refused("That flag belongs to another clinic.")
    if submission_key:
        existing = Incident.objects.filter(reported_by=actor, submission_key=submission_key)
        if (found := existing.first()) is not None:
            return Outcome(found, replayed=True)
    try:
        with transaction.atomic():
            incident = Incident.objects.create(
                clinic=clinic,
                kind=kind,
                title=title,
                description=description,
                location=location,
                occurred_at=occurred_at,
                category=category,
                harm=harm,
                patient=patient,
                witnesses=witnesses,
                immediate_action=immediate_action,
                reported_by=actor,
                reported_at=now,
                submission_key=submission_key,
            )
            _audit(
                actor,
                AuditEvent.Action.CREATE,
                incident,
                f"Reported {incident.get_kind_display().split(' (')[0].lower()} {incident.pk}",
                {
                    "kind": kind,
                    "category": category,
                    "harm": harm,
                    "occurred_at": occurred_at,
                    "location": location,
                },
            )
            if flag is not None:
                _link_flag(actor, incident, flag)
    except IntegrityError:
        # A concurrent twin with the same key committed first: answer with its incident.
        found = Incident.objects.filter(reported_by=actor, submission_key=submission_key).first()
        if not submission_key or found is None:
            raise
        return Outcome(found, replayed=True)
    return Outcome(incident)


# ---- the moves ------------------------------------------------------------------------------


def triage(
    *,
    actor: User,
    incident: Incident | int,
    priority: str,
    lead: User,
    category: str,
    harm: str,
    note: str = "",
    expected: str = "",
) -> Outcome[Incident]:
    """Reported → triaged: a priority, who leads it, and the category and harm confirmed."""
    with transaction.atomic():
        locked, replayed = _begin(incident, "triage", expected)
        if replayed:
            return Outcome(locked, replayed=True)
        if not leads_for(locked.clinic).filter(pk=lead.pk).exists():
            raise Refused("Lead: choose someone at this clinic who may work incidents.", "lead")
        check_kind_and_harm(locked.kind, harm)
        before = audit.snapshot(locked, INCIDENT_FIELDS)
        locked.status = states.target("triage")
        locked.priority = Incident.Priority(priority).value
        locked.lead = lead
        locked.category = Incident.Category(category).value
        locked.harm = Incident.Harm(harm).value
        locked.triage_note = note
        locked.triaged_at = timezone.now()
        locked.save()
        _audit(
            actor,
            AuditEvent.Action.UPDATE,
            locked,
            f"Incident {locked.pk} triaged ({locked.get_priority_display().lower()} priority)",
            audit.diff(before, audit.snapshot(locked, INCIDENT_FIELDS)),
        )
    return Outcome(locked)


def _move(actor: User, incident: Incident | int, move: str, expected: str) -> Outcome[Incident]:
    with transaction.atomic():
        locked, replayed = _begin(incident, move, expected)
        if replayed:
            return Outcome(locked, replayed=True)
        before = locked.status
        if move == "plan":
            _check_ready_to_act(locked)
        locked.status = states.target(move)
        locked.save(update_fields=["status"])
        _audit(
            actor,
            AuditEvent.Action.UPDATE,
            locked,
            f"Incident {locked.pk}: {locked.get_status_display().lower()}",
            {"status": [before, locked.status]},
        )
    return Outcome(locked)


def start_investigation(
    *, actor: User, incident: Incident | int, expected: str = ""
) -> Outcome[Incident]:
    """Triaged → investigating."""
    return _move(actor, incident, "investigate", expected)


def _check_ready_to_act(incident: Incident) -> None:
    problems = []
    if not incident.root_cause.strip():
        problems.append("write the root cause")
    if not incident.whys and not incident.fishbone:
        problems.append("record at least one “why” or one contributing factor")
    if not incident.actions.exclude(status=A.CANCELLED).exists():
        problems.append("add at least one corrective or preventive action")
    if problems:
        raise Refused(
            "The analysis is not finished: " + "; ".join(problems) + ". Or close the incident "
            "with a stated reason."
        )


def finish_analysis(
    *, actor: User, incident: Incident | int, expected: str = ""
) -> Outcome[Incident]:
    """Investigating → actions under way: needs a root cause, a why or factor, an action."""
    return _move(actor, incident, "plan", expected)


def save_analysis(
    *,
    actor: User,
    incident: Incident | int,
    whys: Sequence[str],
    fishbone: dict[str, str],
    root_cause: str,
) -> Outcome[Incident]:
    """Store the root-cause analysis (five whys, fishbone factors, the root cause); the same
    values again change nothing and are not audited again."""
    unknown = set(fishbone) - set(Incident.Fishbone.values)
    if unknown:
        raise Refused(f"Unknown fishbone categories: {', '.join(sorted(unknown))}.")
    whys = [w.strip() for w in whys if w and w.strip()][:5]
    fishbone = {k: v.strip() for k, v in fishbone.items() if v and v.strip()}
    with transaction.atomic():
        locked = lock_row(Incident, incident)
        if locked.status not in states.ANALYSIS_STATES:
            raise IllegalMove(
                f"The analysis can be edited once the incident is triaged and until it is "
                f"closed; it is {locked.get_status_display().lower()}."
            )
        before = audit.snapshot(locked, ANALYSIS_FIELDS)
        locked.whys, locked.fishbone, locked.root_cause = whys, fishbone, root_cause.strip()
        changes = audit.diff(before, audit.snapshot(locked, ANALYSIS_FIELDS))
        if not changes:
            return Outcome(locked, replayed=True)
        locked.save(update_fields=list(ANALYSIS_FIELDS))
        _audit(
            actor,
            AuditEvent.Action.UPDATE,
            locked,
            f"Incident {locked.pk}: root-cause analysis updated",
            changes,
        )
    return Outcome(locked)


def close_incident(
    *, actor: User, incident: Incident | int, reason: str = "", expected: str = ""
) -> Outcome[Incident]:
    """Close: every action verified effective (or cancelled) with at least one verified, after
    the analysis; otherwise only with a stated reason."""
    reason = reason.strip()
    with transaction.atomic():
        locked, replayed = _begin(incident, "close", expected)
        if replayed:
            return Outcome(locked, replayed=True)
        actions = list(locked.actions.all())
        pending = [a for a in actions if not a.is_finished]
        verified = [a for a in actions if a.status == A.VERIFIED]
        complete = locked.status == S.ACTING and not pending and verified
        if not complete and not reason:
            if locked.status != S.ACTING:
                why = "its analysis and actions are not finished"
            elif pending:
                why = f"{len(pending)} action(s) are not verified effective yet"
            else:
                why = "no action has been verified effective"
            raise Refused(
                f"Incident {locked.pk} cannot close on its own: {why}. To close it anyway, "
                "state the reason.",
                "reason",
            )
        before = locked.status
        locked.status = S.CLOSED
        locked.closed_at = timezone.now()
        locked.closed_by = actor
        locked.close_reason = reason
        locked.save(update_fields=["status", "closed_at", "closed_by", "close_reason"])
        _audit(
            actor,
            AuditEvent.Action.UPDATE,
            locked,
            f"Incident {locked.pk} closed" + (" with a stated reason" if reason else ""),
            {
                "status": [before, S.CLOSED],
                "reason": reason,
                "actions_verified": len(verified),
                "actions_pending": len(pending),
            },
        )
    return Outcome(locked)


def reopen_incident(
    *, actor: User, incident: Incident | int, reason: str, expected: str = ""
) -> Outcome[Incident]:
    """Closed → investigating, with a reason (the closing is kept in the audit trail)."""
    reason = reason.strip()
    with transaction.atomic():
        locked, replayed = _begin(incident, "reopen", expected)
        if replayed:
            return Outcome(locked, replayed=True)
        if not reason:
            raise Refused("Reason: say why the incident is reopened.", "reason")
        closed_at = locked.closed_at
        locked.status = states.target("reopen")
        locked.closed_at = None
        locked.closed_by = None
        locked.close_reason = ""
        locked.reopen_count += 1
        locked.save(
            update_fields=["status", "closed_at", "closed_by", "close_reason", "reopen_count"]
        )
        _audit(
            actor,
            AuditEvent.Action.UPDATE,
            locked,
            f"Incident {locked.pk} reopened",
            {"status": [S.CLOSED, locked.status], "reason": reason, "was_closed_at": closed_at},
        )
    return Outcome(locked)


# ---- corrective and preventive actions ------------------------------------------------------


def add_action(
    *,
    actor: User,
    incident: Incident | int,
    kind: str,
    description: str,
    owner: User,
    due_date: date,
    submission_key: str = "",
) -> Outcome[CorrectiveAction]:
    """Add a corrective or preventive action; the same submission key twice adds one."""
    with transaction.atomic():
        locked = lock_row(Incident, incident, related=("clinic",))
        if submission_key:
            found = locked.actions.filter(submission_key=submission_key).first()
            if found is not None:
                return Outcome(found, replayed=True)
        if locked.status not in states.ACTION_STATES:
            raise IllegalMove(
                f"Actions can be added once the incident is triaged and until it is closed; it "
                f"is {locked.get_status_display().lower()}."
            )
        _check_owner(locked.clinic, owner)
        _check_due_date(locked.clinic, due_date)
        action = CorrectiveAction.objects.create(
            incident=locked,
            kind=CorrectiveAction.Kind(kind).value,
            description=description,
            owner=owner,
            due_date=due_date,
            created_by=actor,
            created_at=timezone.now(),
            submission_key=submission_key,
        )
        _audit(
            actor,
            AuditEvent.Action.CREATE,
            action,
            f"Incident {locked.pk}: {action.get_kind_display().lower()} action added",
            {"owner": owner.get_username(), "due_date": due_date, "kind": action.kind},
        )
    return Outcome(action)


def _check_owner(clinic: Clinic, owner: User) -> None:
    if not owners_for(clinic).filter(pk=owner.pk).exists():
        raise Refused(f"Owner: choose someone who works at {clinic.name}.", "owner")


def _check_due_date(clinic: Clinic, due_date: date) -> None:
    if due_date < clinic.today():
        raise Refused("Due date: choose today or a later day.", "due_date")


def _lock_action(action: CorrectiveAction | int) -> CorrectiveAction:
    locked = lock_row(CorrectiveAction, action)
    incident = lock_row(Incident, locked.incident_id)
    locked.incident = incident
    if incident.status not in states.ACTION_STATES:
        raise IllegalMove(
            f"Incident {incident.pk} is {incident.get_status_display().lower()}: its actions "
            "can no longer change." + (" Reopen it first." if incident.status == S.CLOSED else "")
        )
    return locked


def _action_changed(
    actor: User, action: CorrectiveAction, before: str, summary: str, extra: dict[str, Any]
) -> None:
    _audit(
        actor,
        AuditEvent.Action.UPDATE,
        action,
        f"Incident {action.incident_id}, action {action.pk}: {summary}",
        {"status": [before, action.status], **extra},
    )


def complete_action(
    *, actor: User, action: CorrectiveAction | int, note: str
) -> Outcome[CorrectiveAction]:
    """Open → done (awaiting verification), with what was done."""
    note = note.strip()
    with transaction.atomic():
        locked = _lock_action(action)
        if locked.status == A.DONE and locked.completion_note == note:
            return Outcome(locked, replayed=True)
        if locked.status != A.OPEN:
            raise IllegalMove(
                f"Action {locked.pk} is {locked.get_status_display().lower()}: only an open "
                "action can be marked done."
            )
        if not note:
            raise Refused("What was done: say what was done, for the verifier.", "note")
        locked.status, locked.completion_note = A.DONE, note
        locked.completed_at = timezone.now()
        locked.overdue_alerted_at = None
        locked.save()
        _action_changed(actor, locked, A.OPEN, "done", {"note": note})
    return Outcome(locked)


def verify_action(
    *,
    actor: User,
    action: CorrectiveAction | int,
    effective: bool,
    note: str,
    new_due_date: date | None = None,
) -> Outcome[CorrectiveAction]:
    """Done → verified effective; or, not effective, back to open with a new due date. The
    owner does not verify their own action."""
    note = note.strip()
    with transaction.atomic():
        locked = _lock_action(action)
        if locked.verification_note == note and (
            (effective and locked.status == A.VERIFIED)
            or (not effective and locked.status == A.OPEN and locked.due_date == new_due_date)
        ):
            return Outcome(locked, replayed=True)
        if locked.status != A.DONE:
            raise IllegalMove(
                f"Action {locked.pk} is {locked.get_status_display().lower()}: only an action "
                "marked done can be verified."
            )
        if locked.owner_id == actor.pk:
            raise Refused(
                "Someone other than the action's owner must verify that it worked.", "effective"
            )
        if not note:
            raise Refused("Evidence: say how you checked that it worked (or did not).", "note")
        before = locked.status
        locked.verification_note = note
        if effective:
            locked.status = A.VERIFIED
            locked.verified_by, locked.verified_at = actor, timezone.now()
            summary = "verified effective"
        else:
            if new_due_date is None or new_due_date < locked.incident.clinic.today():
                raise Refused(
                    "New due date: an action that did not work needs a new due date, today or "
                    "later.",
                    "new_due_date",
                )
            locked.status, locked.due_date = A.OPEN, new_due_date
            locked.completed_at = None
            locked.overdue_alerted_at = None
            summary = "not effective, reopened"
        locked.save()
        _action_changed(
            actor,
            locked,
            before,
            summary,
            {"effective": effective, "note": note, "due_date": locked.due_date},
        )
    return Outcome(locked)


def reassign_action(
    *, actor: User, action: CorrectiveAction | int, owner: User, due_date: date, reason: str
) -> Outcome[CorrectiveAction]:
    """An open action's new owner or due date (or both), with why; the same change twice
    changes it once. The overdue alert may come again for a new due date."""
    reason = reason.strip()
    with transaction.atomic():
        locked = _lock_action(action)
        if locked.owner_id == owner.pk and locked.due_date == due_date:
            return Outcome(locked, replayed=True)
        if locked.status != A.OPEN:
            raise IllegalMove(
                f"Action {locked.pk} is {locked.get_status_display().lower()}: only an open "
                "action changes owner or due date."
            )
        _check_owner(locked.incident.clinic, owner)
        if due_date != locked.due_date:
            _check_due_date(locked.incident.clinic, due_date)
        if not reason:
            raise Refused("Why: say why the owner or due date changes.", "reason")
        changes: dict[str, Any] = {"reason": reason}
        if locked.owner_id != owner.pk:
            changes["owner"] = [locked.owner.get_username(), owner.get_username()]
        if locked.due_date != due_date:
            changes["due_date"] = [locked.due_date, due_date]
            locked.overdue_alerted_at = None
        locked.owner, locked.due_date = owner, due_date
        locked.save()
        _audit(
            actor,
            AuditEvent.Action.UPDATE,
            locked,
            f"Incident {locked.incident_id}, action {locked.pk}: "
            + " and ".join(k.replace("_", " ") for k in ("owner", "due_date") if k in changes)
            + " changed",
            changes,
        )
    return Outcome(locked)


def cancel_action(
    *, actor: User, action: CorrectiveAction | int, reason: str
) -> Outcome[CorrectiveAction]:
    """Open or done → cancelled, with the reason."""
    reason = reason.strip()
    with transaction.atomic():
        locked = _lock_action(action)
        if locked.status == A.CANCELLED:
            return Outcome(locked, replayed=True)
        if locked.status == A.VERIFIED:
            raise IllegalMove(f"Action {locked.pk} is verified already: it cannot be cancelled.")
        if not reason:
            raise Refused("Reason: say why the action is cancelled.", "reason")
        before = locked.status
        locked.status, locked.cancel_reason = A.CANCELLED, reason
        locked.overdue_alerted_at = None
        locked.save()
        _action_changed(actor, locked, before, "cancelled", {"reason": reason})
    return Outcome(locked)


# ---- links ----------------------------------------------------------------------------------


def link_audit_event(
    *, actor: User, incident: Incident | int, event_id: int, note: str = ""
) -> Outcome[IncidentAuditLink]:
    """Tie an audit event the actor may see to the incident; twice links it once."""
    with transaction.atomic():
        locked = lock_row(Incident, incident)
        event = selectors.visible_audit_events(actor).filter(pk=event_id).first()
        if event is None:
            raise Refused(f"Audit event {event_id}: no such event that you may see.", "event_id")
        found = locked.audit_links.filter(event_id=event_id).first()
        if found is not None:
            return Outcome(found, replayed=True)
        link = IncidentAuditLink.objects.create(
            incident=locked,
            event_id=event_id,
            note=note.strip()[:300],
            linked_by=actor,
            linked_at=timezone.now(),
        )
        _audit(
            actor,
            AuditEvent.Action.UPDATE,
            locked,
            f"Incident {locked.pk}: audit event {event_id} linked",
            {"audit_event": event_id, "note": link.note},
        )
    return Outcome(link)


def _link_flag(actor: User, incident: Incident, flag: Flag) -> bool:
    """Link inside the caller's transaction; False when it was linked already."""
    if incident.flags.filter(pk=flag.pk).exists():
        return False
    incident.flags.add(flag)
    _audit(
        actor,
        AuditEvent.Action.UPDATE,
        incident,
        f"Incident {incident.pk}: flag {flag.pk} linked",
        {"flag": flag.pk},
    )
    if flag.status in (Flag.Status.NEW, Flag.Status.ACKNOWLEDGED):
        flag_services.update_flag(
            actor=actor, flag=flag, status=Flag.Status.IN_PROGRESS, response=flag.response
        )
    return True


def link_flag(*, actor: User, incident: Incident | int, flag: Flag) -> Outcome[Incident]:
    """Tie a flag of the same clinic to the incident (the flag becomes "being looked into")."""
    with transaction.atomic():
        locked = lock_row(Incident, incident)
        if flag.clinic_id != locked.clinic_id:
            raise Refused("That flag belongs to another clinic.", "flag")
        linked = _link_flag(actor, locked, flag)
    return Outcome(locked, replayed=not linked)


# ---- overdue actions ------------------------------------------------------------------------


def overdue_actions(clinic: Clinic, today: date) -> QuerySet[CorrectiveAction]:
    """Open actions of the clinic's open incidents whose due date has passed (local `today`)."""
    return (
        CorrectiveAction.objects.filter(incident__clinic=clinic, status=A.OPEN, due_date__lt=today)
        .exclude(incident__status=S.CLOSED)
        .select_related("incident", "owner")
        .order_by("due_date", "pk")
    )


def officer_emails(clinic: Clinic) -> list[str]:
    users = User.objects.with_perm(
        OFFICER_PERMISSION,
        include_superusers=False,
        backend="django.contrib.auth.backends.ModelBackend",
    ).filter(is_active=True, staff__clinics=clinic)
    return sorted({u.email for u in users.exclude(email="")})


def alert_overdue_actions(*, clinic: Clinic, today: date) -> int:
    """Email each newly overdue action's owner and the clinic's compliance officers, once per
    action and overdue spell; returns how many actions were alerted.

    The claim (`overdue_alerted_at` set where it is still null) and the email are in one
    transaction: a concurrent run claims nothing, and a failed send rolls the claim back so the
    retry sends it.
    """
    officers = officer_emails(clinic)
    sent = 0
    for action in overdue_actions(clinic, today).filter(overdue_alerted_at__isnull=True):
        with transaction.atomic():
            claimed = CorrectiveAction.objects.filter(
                pk=action.pk, status=A.OPEN, overdue_alerted_at__isnull=True, due_date__lt=today
            ).update(overdue_alerted_at=timezone.now())
            if not claimed:
                continue
            to = sorted({e for e in [action.owner.email, *officers] if e})
            if to:
                _overdue_email(action, clinic, today, to).send()
            _audit(
                None,
                AuditEvent.Action.UPDATE,
                action,
                f"Incident {action.incident_id}, action {action.pk}: overdue alert sent to "
                f"{len(to)} recipient(s)",
                {"due_date": action.due_date, "days_overdue": (today - action.due_date).days},
            )
            sent += 1
    return sent


def _overdue_email(action: CorrectiveAction, clinic: Clinic, today: date, to: list[str]) -> Any:
    url = settings.SITE_URL.rstrip("/") + reverse(
        "compliance:incident_detail", args=[action.incident_id]
    )
    days = (today - action.due_date).days
    return EmailMessage(
        subject=(
            f"[ClinicOps] {clinic.name}: corrective action overdue by {days} day"
            f"{'s' if days != 1 else ''} (incident {action.incident_id})"
        ),
        body=(
            f"A corrective action of incident {action.incident_id} at {clinic.name} is "
            f"overdue.\n\nAction: {action.description}\nOwner: {action.owner.display_name}\n"
            f"Due: {action.due_date:%A %d %B %Y} ({days} day{'s' if days != 1 else ''} ago)\n\n"
            f"Open the incident: {url}\n\nThis alert is sent once while the action stays "
            "overdue."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
    )


# ---- reads ----------------------------------------------------------------------------------


def visible_incidents(user: User) -> QuerySet[Incident]:
    """Incidents of the clinics the user works in."""
    return Incident.objects.filter(clinic__in=Clinic.objects.for_user(user))


def incident_list(
    clinic: Clinic, *, status: str = "open", mine: User | None = None
) -> QuerySet[Incident]:
    """The clinic's incidents by status; `mine`: only those the user leads or owns an
    unfinished action of."""
    incidents = Incident.objects.filter(clinic=clinic).select_related("lead", "reported_by")
    if mine is not None:
        owns = CorrectiveAction.objects.filter(incident=OuterRef("pk"), owner=mine).exclude(
            status__in=CorrectiveAction.FINISHED
        )
        incidents = incidents.filter(Q(lead=mine) | Exists(owns))
    if status == "open":
        incidents = incidents.exclude(status=S.CLOSED)
    elif status in S.values:
        incidents = incidents.filter(status=status)
    today = clinic.today()
    return incidents.annotate(
        open_actions=Count("actions", filter=~Q(actions__status__in=CorrectiveAction.FINISHED)),
        overdue_actions=Count(
            "actions", filter=Q(actions__status=A.OPEN, actions__due_date__lt=today)
        ),
    ).order_by("-reported_at", "-id")


def open_incidents(clinic: Clinic) -> QuerySet[Incident]:
    return Incident.objects.filter(clinic=clinic).exclude(status=S.CLOSED).order_by("-id")


def linked_events(user: User, incident: Incident) -> list[selectors.AuditRow]:
    """The linked audit events the user may see, as audit-log rows."""
    ids = list(incident.audit_links.values_list("event_id", flat=True))
    events = selectors.visible_audit_events(user).filter(pk__in=ids).order_by("occurred_at", "id")
    return selectors.audit_rows(user, events)


def history(incident: Incident) -> QuerySet[AuditEvent]:
    """The incident's own audit events and its actions', oldest first."""
    action_ids = [str(pk) for pk in incident.actions.values_list("pk", flat=True)]
    return (
        AuditEvent.objects.filter(
            Q(object_type="compliance.incident", object_id=str(incident.pk))
            | Q(object_type="compliance.correctiveaction", object_id__in=action_ids)
        )
        .exclude(action=AuditEvent.Action.VIEW)
        .order_by("occurred_at", "id")
    )


@dataclass(frozen=True)
class MonthlyTable:
    """Counts of incidents by the clinic-local month they happened in, one row per choice."""

    year: int
    months: tuple[int, ...]
    rows: tuple[tuple[str, str, tuple[int, ...], int], ...]  # (value, label, per month, total)
    totals: tuple[int, ...]
    total: int


def _table(
    clinic: Clinic, year: int, field: str, choices: Iterable[tuple[str, str]]
) -> MonthlyTable:
    tz = clinic.tz
    start = datetime(year, 1, 1, tzinfo=tz)
    end = datetime(year + 1, 1, 1, tzinfo=tz)
    counts: dict[tuple[str, int], int] = {}
    rows = (
        Incident.objects.filter(clinic=clinic, occurred_at__gte=start, occurred_at__lt=end)
        .annotate(month=ExtractMonth("occurred_at", tzinfo=tz))
        .order_by()
        .values(field, "month")
        .annotate(n=Count("pk"))
    )
    for row in rows:
        counts[row[field], row["month"]] = row["n"]
    months = tuple(range(1, 13))
    table = []
    for value, label in choices:
        per_month = tuple(counts.get((value, m), 0) for m in months)
        table.append((value, label, per_month, sum(per_month)))
    totals = tuple(sum(r[2][i] for r in table) for i in range(12))
    return MonthlyTable(year, months, tuple(table), totals, sum(totals))


def monthly_by_category(clinic: Clinic, year: int) -> MonthlyTable:
    return _table(clinic, year, "category", Incident.Category.choices)


def monthly_by_harm(clinic: Clinic, year: int) -> MonthlyTable:
    return _table(clinic, year, "harm", Incident.Harm.choices)
