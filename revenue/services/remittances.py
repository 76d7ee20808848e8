"""Posting an 835 remittance: validate (pyx12), read and balance (our reader), de-duplicate on
payer + trace, match, and post append-only ledger rows, denials and exceptions in ONE
transaction per file. A refused file posts nothing and says why.

The ledger's rules (docs/decisions/0028-remittance-ledger.md):
- a CAS amount is patient responsibility (group PR), a denial (CO/PI/OA with a CARC whose
  bucket is set, or a CARC not in the table: kept and flagged), a contractual adjustment (CO,
  other codes) or another adjustment (OA/PI, other codes);
- a claim's balance is its charges minus payments, contractual and other adjustments and
  write-offs; the patient's part is patient responsibility minus what moved to the next payer;
- a reversal (CLP02 = 22) carries negated amounts and is posted as they come: new rows with
  the opposite sign, never an edit;
- a claim processed as primary and forwarded (CLP02 19/20, or NM1*TT) moves its patient
  responsibility to the patient's next coverage (a TRANSFER row) when there is one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from clinicops.audit import audit
from clinicops.audit.models import AuditEvent
from clinicops.core import servicekit
from clinicops.core.models import Clinic, Coverage, Payer

from .. import claim_status
from ..models import (
    AdjustmentCode,
    BillingProfile,
    Claim,
    ClaimEvent,
    ClaimLine,
    ClaimStatus,
    DenialBucket,
    DenialItem,
    LedgerEntry,
    PayerBillingSettings,
    Remittance,
    RemittanceException,
)
from ..x12 import reader_835
from ..x12.reader_835 import Adjustment, ClaimPayment, RemitRefused

ZERO = Decimal("0")
K = LedgerEntry.Kind
DEFAULT_APPEAL_DAYS = 90


@dataclass
class PostingResult:
    remittance: Remittance | None
    duplicate: bool = False
    claims_posted: int = 0
    lines_posted: int = 0
    denials_opened: int = 0
    exceptions: int = 0
    paid: Decimal = ZERO
    provider_adjustments: Decimal = ZERO
    unknown_codes: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        if self.duplicate and self.remittance is not None:
            return (
                f"Already posted: trace {self.remittance.trace_number} from "
                f"{self.remittance.payer_name} was posted on "
                f"{self.remittance.imported_at:%Y-%m-%d}; nothing was posted again."
            )
        text = (
            f"Posted {self.claims_posted} claim{'s' if self.claims_posted != 1 else ''}, "
            f"{self.lines_posted} line{'s' if self.lines_posted != 1 else ''}, "
            f"paid {self.paid}, provider adjustments {self.provider_adjustments}; "
            f"{self.denials_opened} denial{'s' if self.denials_opened != 1 else ''} opened; "
            f"{self.exceptions} unmatched"
        )
        if self.unknown_codes:
            text += f"; unknown codes kept and flagged: {', '.join(self.unknown_codes)}"
        return text + "."


def decode(content: bytes | str) -> str:
    if isinstance(content, str):
        return content
    try:
        return content.decode("ascii")
    except UnicodeDecodeError as error:
        raise RemitRefused(
            f"The file has a byte that is not ASCII at position {error.start}: an X12 file is "
            "plain text."
        ) from None


def check_file(text: str) -> reader_835.Remittance:
    """Sniff, validate with pyx12, read and balance: the remittance, or RemitRefused."""
    from ..x12.validate import validate_x12

    reader_835.sniff(text)
    issues = validate_x12(text)
    if issues:
        shown = "; ".join(str(issue) for issue in issues[:5])
        more = f" (and {len(issues) - 5} more)" if len(issues) > 5 else ""
        raise RemitRefused(f"pyx12 found {len(issues)} problem(s) in the file: {shown}{more}.")
    remit = reader_835.read_835(text)
    problems = reader_835.balance_problems(remit)
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise RemitRefused(
            "The file does not balance, nothing was posted: " + " ".join(problems[:5]) + more
        )
    return remit


def _clinic_for(remit: reader_835.Remittance, clinic: Clinic | None) -> Clinic:
    profiles = BillingProfile.objects.filter(group_npi=remit.payee_npi).select_related("clinic")
    if clinic is None:
        found = [p.clinic for p in profiles]
        if len(found) != 1:
            raise RemitRefused(
                f"The payee NPI in N1*PE is {remit.payee_npi!r}, which is the billing NPI of "
                f"{len(found)} clinics; name the clinic (--clinic)."
            )
        return found[0]
    if not any(p.clinic_id == clinic.pk for p in profiles):
        raise RemitRefused(
            f"The file pays NPI {remit.payee_npi!r} (N1*PE), which is not the billing NPI of "
            f"{clinic.name}."
        )
    return clinic


def _payer(remit: reader_835.Remittance) -> Payer | None:
    for key in (remit.payer_id, remit.payer_key):
        if key:
            payer = Payer.objects.filter(payer_id=key).first()
            if payer is not None:
                return payer
    return None


class _Codes:
    """The CARC/RARC table in force on a date, read once per file."""

    def __init__(self, day: dt.date) -> None:
        rows = AdjustmentCode.objects.filter(effective_from__lte=day).filter(
            Q(effective_to__isnull=True) | Q(effective_to__gte=day)
        )
        self.carc: dict[str, str] = {}
        self.rarc: set[str] = set()
        for row in rows:
            if row.kind == AdjustmentCode.Kind.CARC:
                self.carc[row.code] = row.bucket
            else:
                self.rarc.add(row.code)

    def kind(self, adj: Adjustment) -> tuple[str, str, bool]:
        """(ledger kind, denial bucket, unknown code)."""
        known = adj.reason in self.carc
        bucket = self.carc.get(adj.reason, "")
        if adj.group == "PR":
            return K.PATIENT_RESPONSIBILITY, "", not known
        if not known:
            return K.DENIAL, DenialBucket.OTHER, True
        if bucket:
            return K.DENIAL, bucket, False
        if adj.group == "CO":
            return K.CONTRACTUAL, "", False
        return K.OTHER_ADJUSTMENT, "", False


def _next_coverage(claim: Claim) -> Coverage | None:
    current = claim.coverage.priority if claim.coverage is not None else 1
    day = claim.service_date
    in_force = Q(effective_to__isnull=True) | Q(effective_to__gte=day)
    candidates = claim.patient.coverages.filter(
        in_force, priority__gt=current, effective_from__lte=day
    ).order_by("priority", "pk")
    found: Coverage | None = next((c for c in candidates if c.payer_id != claim.payer_id), None)
    return found


def _target_status(paid: Decimal, denied: Decimal, reversal: bool) -> str:
    if reversal:
        return ClaimStatus.ACCEPTED
    if denied > 0:
        return ClaimStatus.PARTIALLY_PAID if paid > 0 else ClaimStatus.DENIED
    return ClaimStatus.PAID


@dataclass
class _ClaimState:
    """What posting one claim of the file has added up so far."""

    reversal: bool
    sums: dict[str, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    denials: dict[int | None, list[tuple[Adjustment, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )


def import_835(
    *,
    actor: Any,
    content: bytes | str,
    clinic: Clinic | None = None,
    filename: str = "",
    today: dt.date | None = None,
    posted_at: dt.datetime | None = None,
) -> PostingResult:
    """Post one 835 file; RemitRefused (nothing posted) when it is not valid or not balanced,
    a result with `duplicate` set when its payer + trace was posted before. `posted_at` dates
    the rows in the past (the demo data's history only; the screen and command post now)."""
    text = decode(content)
    remit = check_file(text)
    clinic = _clinic_for(remit, clinic)
    if servicekit.user_or_none(actor) is not None and not servicekit.works_at(actor, clinic.pk):
        raise RemitRefused(f"You do not work at {clinic.name}.")
    payer = _payer(remit)
    now = posted_at or timezone.now()
    day = remit.payment_date or today or clinic.today()
    sha = hashlib.sha256(text.encode("ascii")).hexdigest()
    label = servicekit.actor_label(actor)
    with transaction.atomic():
        try:
            with transaction.atomic():
                remittance = Remittance.objects.create(
                    clinic=clinic,
                    payer=payer,
                    payer_key=remit.payer_key or remit.payer_id,
                    payer_name=remit.payer_name[:60],
                    trace_number=remit.trace_number,
                    payment_date=remit.payment_date,
                    total_paid=remit.total,
                    provider_adjustments=sum((p.amount for p in remit.plb), ZERO),
                    filename=filename[:255],
                    content=text,
                    sha256=sha,
                    imported_at=now,
                    imported_by=servicekit.user_or_none(actor),
                    imported_by_label=label,
                )
        except IntegrityError:
            existing = Remittance.objects.get(
                payer_key=remit.payer_key or remit.payer_id, trace_number=remit.trace_number
            )
            return PostingResult(remittance=existing, duplicate=True)
        result = _post(remittance, remit, clinic=clinic, payer=payer, actor=actor, day=day)
        remittance.claims_posted = result.claims_posted
        remittance.lines_posted = result.lines_posted
        remittance.denials_opened = result.denials_opened
        remittance.exceptions = result.exceptions
        remittance.save(
            update_fields=["claims_posted", "lines_posted", "denials_opened", "exceptions"]
        )
        result.remittance = remittance
        audit.record(
            actor=actor,
            action=AuditEvent.Action.CREATE,
            obj=remittance,
            clinic=clinic.pk,
            summary=f"Posted 835 trace {remit.trace_number}: {result.summary()}"[:255],
        )
    return result


def _post(
    remittance: Remittance,
    remit: reader_835.Remittance,
    *,
    clinic: Clinic,
    payer: Payer | None,
    actor: Any,
    day: dt.date,
) -> PostingResult:
    result = PostingResult(remittance=remittance)
    result.paid = remit.total
    result.provider_adjustments = remittance.provider_adjustments
    codes = _Codes(day)
    numbers = {c.control_number for c in remit.claims}
    claims = {
        c.control_number: c
        for c in Claim.objects.select_for_update(of=("self",))
        .filter(clinic=clinic, control_number__in=numbers)
        .select_related("coverage")
        .order_by("pk")
    }
    lines_by_claim: dict[int, list[ClaimLine]] = defaultdict(list)
    for line in ClaimLine.objects.filter(claim__in=list(claims.values())).order_by("position"):
        lines_by_claim[line.claim_id].append(line)
    appeal_days = DEFAULT_APPEAL_DAYS
    if payer is not None:
        settings_row = PayerBillingSettings.objects.filter(payer=payer).first()
        appeal_days = settings_row.appeal_days if settings_row else DEFAULT_APPEAL_DAYS
    due = day + dt.timedelta(days=appeal_days)
    now = remittance.imported_at
    label = remittance.imported_by_label
    entries: list[LedgerEntry] = []
    denials: list[DenialItem] = []
    problems: list[RemittanceException] = []
    events: list[ClaimEvent] = []
    touched: list[Claim] = []
    unknown: set[str] = set()
    patients: set[int] = set()

    def entry(claim: Claim | None, line: ClaimLine | None, kind: str, amount: Decimal,
              adj: Adjustment | None = None, unknown_code: bool = False, reversal: bool = False,
              note: str = "") -> None:  # fmt: skip
        entries.append(
            LedgerEntry(
                clinic=clinic,
                claim=claim,
                claim_line=line,
                patient_id=claim.patient_id if claim else None,
                payer=payer,
                remittance=remittance,
                kind=kind,
                amount=amount,
                group_code=adj.group if adj else "",
                reason_code=adj.reason if adj else "",
                unknown_code=unknown_code,
                reversal=reversal,
                posted_at=now,
                posted_by_label=label,
                note=note[:255],
            )
        )

    def post_adjustments(claim: Claim, state: _ClaimState, adjs: list[Adjustment],
                         line: ClaimLine | None, key: int | None) -> Decimal:  # fmt: skip
        denied = ZERO
        for adj in adjs:
            kind, bucket, is_unknown = codes.kind(adj)
            if is_unknown:
                unknown.add(f"{adj.group}-{adj.reason}")
            entry(claim, line, kind, adj.amount, adj, is_unknown, state.reversal)
            state.sums[kind] += adj.amount
            if kind == K.DENIAL:
                denied += adj.amount
                state.denials[key].append((adj, bucket))
        return denied

    for cp in remit.claims:
        claim = claims.get(cp.control_number)
        if claim is None:
            problems.append(
                RemittanceException(
                    remittance=remittance,
                    reason=RemittanceException.Reason.CLAIM_NOT_FOUND,
                    control_number=cp.control_number[:50],
                    amount=cp.paid,
                    segments="~\n".join(cp.segments) + "~",
                )
            )
            continue
        result.claims_posted += 1
        patients.add(claim.patient_id)
        reversal = cp.is_reversal
        state = _ClaimState(reversal)
        sums, denial_groups = state.sums, state.denials
        denied_zero_paid = False
        free = list(lines_by_claim.get(claim.pk, []))

        line_paid = ZERO
        for pl in cp.lines:
            ours = _match_line(free, pl)
            if ours is None:
                problems.append(
                    RemittanceException(
                        remittance=remittance,
                        reason=RemittanceException.Reason.LINE_NOT_FOUND,
                        control_number=cp.control_number[:50],
                        claim=claim,
                        amount=pl.paid,
                        segments="~\n".join(pl.segments) + "~",
                    )
                )
            else:
                free.remove(ours)
            result.lines_posted += 1
            if pl.paid:
                entry(claim, ours, K.PAYMENT, pl.paid, reversal=reversal)
                sums[K.PAYMENT] += pl.paid
            line_paid += pl.paid
            key: int | None = ours.pk if ours is not None else -pl.segment_no
            denied = post_adjustments(claim, state, pl.adjustments, ours, key)
            if denied > 0 and pl.paid == 0:
                denied_zero_paid = True
        if cp.paid - line_paid:
            entry(
                claim, None, K.PAYMENT, cp.paid - line_paid, reversal=reversal, note="claim level"
            )
            sums[K.PAYMENT] += cp.paid - line_paid
        claim_denied = post_adjustments(claim, state, cp.adjustments, None, None)
        if claim_denied > 0 and cp.paid == 0:
            denied_zero_paid = True
        # Secondary: the patient's share moves to the next coverage.
        if cp.forwarded and not reversal and sums[K.PATIENT_RESPONSIBILITY] > 0:
            nxt = _next_coverage(claim)
            if nxt is not None:
                entry(claim, None, K.TRANSFER, sums[K.PATIENT_RESPONSIBILITY],
                      note=f"Forwarded to {nxt.payer.name}")  # fmt: skip
                sums[K.TRANSFER] += sums[K.PATIENT_RESPONSIBILITY]
                claim.next_payer_id = nxt.payer_id
            else:
                result.notes.append(
                    f"Claim {claim.control_number} was forwarded to "
                    f"{cp.crossover_payer or 'the next payer'}, but the patient has no other "
                    "coverage on file: the patient's share stays with the patient."
                )
        # Denial work items, one per denied line (or the claim when denied at claim level).
        if not reversal:
            for group_key, found in denial_groups.items():
                if group_key is None or group_key < 0:
                    line_obj = None
                else:
                    line_obj = next(
                        (x for x in lines_by_claim[claim.pk] if x.pk == group_key), None
                    )
                remarks = _remarks_of(cp, group_key, line_obj)
                found.sort(key=lambda pair: -pair[0].amount)
                amount = sum((a.amount for a, _b in found), ZERO)
                if amount <= 0:
                    continue
                denials.append(
                    DenialItem(
                        clinic=clinic,
                        claim=claim,
                        claim_line=line_obj,
                        patient_id=claim.patient_id,
                        payer_id=payer.pk if payer is not None else claim.payer_id,
                        remittance=remittance,
                        amount=amount,
                        carcs=list(dict.fromkeys(f"{a.group}-{a.reason}" for a, _b in found)),
                        rarcs=remarks,
                        bucket=found[0][1],
                        service_date=line_obj.service_date if line_obj else claim.service_date,
                        denied_on=day,
                        due_date=due,
                    )
                )
        reduce = sum((sums[k] for k in LedgerEntry.REDUCES_BALANCE), ZERO)
        claim.paid_amount += sums[K.PAYMENT]
        claim.adjusted_amount += sums[K.CONTRACTUAL] + sums[K.OTHER_ADJUSTMENT]
        claim.balance -= reduce
        claim.patient_balance += sums[K.PATIENT_RESPONSIBILITY] - sums[K.TRANSFER]
        if not claim.payer_claim_number and cp.payer_claim_number:
            claim.payer_claim_number = cp.payer_claim_number[:50]
        if claim.first_remitted_at is None and not reversal:
            claim.first_remitted_at = now
            claim.first_remit_denied = denied_zero_paid
        denied_total = sum((a.amount for found in denial_groups.values() for a, _b in found), ZERO)
        _move_for_remit(claim, _target_status(cp.paid, denied_total, reversal), events, now,
                        label, actor, remit.trace_number, result)  # fmt: skip
        touched.append(claim)
    _copy(LedgerEntry, entries)
    LedgerEntry.objects.bulk_create(
        LedgerEntry(
            clinic=clinic,
            payer=payer,
            remittance=remittance,
            kind=K.PROVIDER,
            amount=plb.amount,
            reason_code=plb.reason[:8],
            posted_at=now,
            posted_by_label=label,
            note=f"PLB {plb.reason}:{plb.reference}"[:255],
        )
        for plb in remit.plb
    )
    DenialItem.objects.bulk_create(denials, batch_size=2000)
    RemittanceException.objects.bulk_create(problems, batch_size=2000)
    _copy(ClaimEvent, events)
    _update_claims(touched)
    for patient_id in sorted(patients):
        audit.record(
            actor=actor,
            action=AuditEvent.Action.UPDATE,
            object_type="revenue.remittance",
            object_id=remittance.pk,
            patient=patient_id,
            clinic=clinic.pk,
            summary=f"835 trace {remit.trace_number} posted to the patient's claims",
        )
    result.denials_opened = len(denials)
    result.exceptions = len(problems)
    result.unknown_codes = sorted(unknown)
    return result


def _copy(model: Any, objs: list[Any]) -> None:
    """Insert many rows with COPY (a third of bulk_create's time for the 30,000 ledger rows of a
    5,000-claim file: no SQL to compile per row). Statement triggers fire as for INSERT, so
    the KPI engine's late-change marks are written the same way."""
    if not objs:
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        raw = cursor.cursor  # psycopg's own cursor under Django's wrapper
        with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                copy.write_row(
                    [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
                )


_CLAIM_COLUMNS = (
    ("paid_amount", "numeric"),
    ("adjusted_amount", "numeric"),
    ("balance", "numeric"),
    ("patient_balance", "numeric"),
    ("payer_claim_number", "varchar"),
    ("first_remitted_at", "timestamptz"),
    ("first_remit_denied", "boolean"),
    ("next_payer_id", "bigint"),
    ("status", "varchar"),
    ("status_changed_at", "timestamptz"),
)


def _update_claims(claims: list[Claim]) -> None:
    """Write the posted claims' totals and statuses: one UPDATE ... FROM (VALUES ...) per
    thousand claims (Django's bulk_update writes a CASE per row and column: minutes for 5,000)."""
    names = [name for name, _type in _CLAIM_COLUMNS]
    row = "(%s::bigint, " + ", ".join(f"%s::{kind}" for _n, kind in _CLAIM_COLUMNS) + ")"
    sets = ", ".join(f"{name} = v.{name}" for name in names)
    table = Claim._meta.db_table
    with connection.cursor() as cursor:
        for start in range(0, len(claims), 1000):
            chunk = claims[start : start + 1000]
            params: list[Any] = []
            for claim in chunk:
                params.append(claim.pk)
                params += [getattr(claim, name) for name in names]
            cursor.execute(
                f"UPDATE {table} AS c SET {sets} FROM (VALUES "  # noqa: S608 - our own names
                + ", ".join([row] * len(chunk))
                + f") AS v(id, {', '.join(names)}) WHERE c.id = v.id",
                params,
            )


def _remarks_of(cp: ClaimPayment, key: int | None, line: ClaimLine | None) -> list[str]:
    remarks = list(cp.remarks)
    for pl in cp.lines:
        if (line is not None and pl.line_id == line.line_id) or (
            key is not None and key < 0 and -key == pl.segment_no
        ):
            remarks += pl.remarks
    if line is not None and not any(pl.line_id == line.line_id for pl in cp.lines):
        for pl in cp.lines:
            if pl.code == line.procedure_code:
                remarks += pl.remarks
    return list(dict.fromkeys(r[:8] for r in remarks))


def _match_line(free: list[ClaimLine], pl: reader_835.Line) -> ClaimLine | None:
    """REF*6R first; else the first unmatched line with the same code (and date, when given)."""
    if pl.line_id:
        for line in free:
            if line.line_id == pl.line_id:
                return line
        return None
    for line in free:
        if line.procedure_code == pl.code and (
            pl.service_date is None or pl.service_date == line.service_date
        ):
            return line
    return None


def _move_for_remit(
    claim: Claim,
    to_status: str,
    events: list[ClaimEvent],
    now: dt.datetime,
    label: str,
    actor: Any,
    trace: str,
    result: PostingResult,
) -> None:
    """The claim's status after a remittance: through accepted when it was only submitted.
    A claim in a status the remittance cannot move (closed, never submitted) keeps it, and the
    result says so."""
    path = [to_status]
    if claim.status == ClaimStatus.SUBMITTED and to_status != ClaimStatus.ACCEPTED:
        path = [ClaimStatus.ACCEPTED, to_status]
    if claim.status == to_status:
        return
    current = claim.status
    for step in path:
        if not claim_status.can_move(current, step):
            result.notes.append(
                f"Claim {claim.control_number} stays {ClaimStatus(claim.status).label.lower()}: "
                f"the remittance would make it {ClaimStatus(to_status).label.lower()}."
            )
            return
        current = step
    for step in path:
        events.append(
            ClaimEvent(
                claim=claim,
                from_status=claim.status,
                to_status=step,
                at=now,
                actor=servicekit.user_or_none(actor),
                actor_label=label,
                reason=f"835 trace {trace}"[:255],
            )
        )
        claim.status = step
    claim.status_changed_at = now
