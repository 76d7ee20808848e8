"""Demo billing for every clinic: billing identity, payers' billing settings, procedure codes,
fee schedules, and the checked-out visits of the demo coded into claims in every status (so the
coding queue, the claim list, held claims, batches and the clean claim rate have something to
show). The last few days' visits are left to code. Idempotent: coded visits are skipped."""

from __future__ import annotations

import contextlib
import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from clinicops.core.demo import npi_for
from clinicops.core.models import Clinic, Coverage, Payer, User
from patientflow.models import Step, Visit
from revenue import demo_remits
from revenue.models import (
    BillingProfile,
    Claim,
    ClaimEvent,
    ClaimStatus,
    ExportBatch,
    FeeSchedule,
    FeeScheduleItem,
    PayerBillingSettings,
    ProcedureCode,
)
from revenue.services import RevenueError, charges, claims, export

# Code, our own short description (CPT texts are licensed: a clinic imports its own), charge.
PROCEDURES: tuple[tuple[str, str, str], ...] = (
    ("99202", "New patient office visit, straightforward", "110.00"),
    ("99203", "New patient office visit, low complexity", "165.00"),
    ("99204", "New patient office visit, moderate complexity", "250.00"),
    ("99212", "Established patient visit, straightforward", "80.00"),
    ("99213", "Established patient visit, low complexity", "125.00"),
    ("99214", "Established patient visit, moderate complexity", "185.00"),
    ("99215", "Established patient visit, high complexity", "255.00"),
    ("99396", "Preventive visit, established, 40-64", "230.00"),
    ("99393", "Preventive visit, established, 5-11", "190.00"),
    ("G0439", "Annual wellness visit, subsequent", "210.00"),
    ("36415", "Venipuncture", "15.00"),
    ("81002", "Urinalysis, non-automated, without microscopy", "12.50"),
    ("87880", "Rapid strep test", "28.00"),
    ("90471", "Immunization administration, first", "30.00"),
    ("90686", "Influenza vaccine, quadrivalent, preservative free", "42.00"),
    ("93000", "Electrocardiogram with interpretation", "60.00"),
    ("96127", "Brief emotional/behavioral assessment", "18.00"),
    ("20610", "Arthrocentesis or injection, major joint", "175.00"),
)
ADULT_DX = (
    "I10",
    "E11.9",
    "E78.5",
    "J06.9",
    "M54.50",
    "Z00.00",
    "K21.9",
    "F41.1",
    "R05.9",
    "N39.0",
    "J45.909",
    "E66.9",
    "G43.909",
    "Z23",
)
CHILD_DX = ("Z00.129", "J02.9", "H66.90", "J06.9", "R50.9", "L20.9", "Z23")
VISIT_CODES = ("99213", "99213", "99213", "99214", "99214", "99212", "99215", "99203")
EXTRAS = ("36415", "81002", "87880", "90471", "93000", "96127", "20610")
FILING: dict[str, str] = {
    Payer.Kind.MEDICARE: "MB",
    Payer.Kind.MEDICAID: "MC",
    Payer.Kind.WORKERS_COMP: "WC",
}
# What happens to a claim sent more than 12 days ago: (outcome, weight). Paid, partial and
# denied claims are answered by an 835 posted through the real importer; rejected and
# accepted-but-unpaid ones are moved by hand (a 277CA, not an 835).
OUTCOMES: tuple[tuple[str, int], ...] = (
    ("paid", 55),
    ("partial", 12),
    ("denied", 18),
    ("rejected", 4),
    ("accepted", 11),
)
HISTORY_DAYS = 42
LEAVE_UNCODED_DAYS = 2  # the last days' visits stay in the coding queue
WAITING_DAYS = 6  # claims of the last week (before that) are scrubbed or held, not yet sent


class Command(BaseCommand):
    help = "Create demo billing (fee schedules, coded visits, claims in every status) per clinic."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--seed", type=int, default=13)

    def handle(self, *args: Any, seed: int, **options: Any) -> None:
        rng = random.Random(seed)  # noqa: S311 - demo data, not secrets
        biller = (
            User.objects.filter(username="biller").first()
            or User.objects.filter(is_superuser=True).first()
        )
        if biller is None:
            self.stderr.write("Create the demo users first (seed_demo does).")
            return
        for code, description, _charge in PROCEDURES:
            ProcedureCode.objects.get_or_create(code=code, defaults={"description": description})
        for payer in Payer.objects.exclude(payer_id=""):
            PayerBillingSettings.objects.get_or_create(
                payer=payer,
                defaults={
                    "claim_filing_indicator": FILING.get(payer.kind, "CI"),
                    "timely_filing_days": 90 if payer.kind == Payer.Kind.COMMERCIAL else 365,
                    "prior_auth_codes": ["20610"] if payer.name == "Aetna" else [],
                },
            )
        made = 0
        for index, clinic in enumerate(Clinic.objects.filter(is_active=True).order_by("pk")):
            # One transaction a clinic: one commit instead of one per write (a demo step).
            with transaction.atomic():
                self._reference(clinic, index)
                made += self._claims(clinic, biller, rng)
        self.stdout.write(self.style.SUCCESS(f"Revenue seeded: {made} claims."))

    def _reference(self, clinic: Clinic, index: int) -> None:
        BillingProfile.objects.get_or_create(
            clinic=clinic,
            defaults={
                "billing_name": clinic.name,
                "group_npi": npi_for(f"18{index:02d}345678"[:9]),
                "tax_id": f"23{index:01d}456789"[:9],
                "taxonomy": "207Q00000X",
                "address_line1": clinic.address_line1 or "1 Main Street",
                "city": clinic.city or "Harrisburg",
                "state": (clinic.state or "PA")[:2],
                "postal_code": f"{(clinic.postal_code or '17102')[:5]}0001",
                "submitter_id": f"DEMO{clinic.pk:06d}",
                "contact_name": "Billing Office",
                "contact_phone": "7175550199",
                "receiver_name": "Demo Clearinghouse",
                "receiver_id": "DEMOCLEAR",
                "coding_from": clinic.today() - timedelta(days=HISTORY_DAYS),
            },
        )
        start = date(2024, 1, 1)
        default, created = FeeSchedule.objects.get_or_create(
            clinic=clinic, payer=None, effective_from=start, defaults={"name": "Standard fees"}
        )
        if created:
            FeeScheduleItem.objects.bulk_create(
                FeeScheduleItem(
                    schedule=default,
                    procedure_code=code,
                    charge=Decimal(charge),
                    expected_allowed=(Decimal(charge) * Decimal("0.7")).quantize(Decimal("0.01")),
                )
                for code, _d, charge in PROCEDURES
            )
        medicare = Payer.objects.filter(kind=Payer.Kind.MEDICARE).first()
        if medicare is not None:
            schedule, created = FeeSchedule.objects.get_or_create(
                clinic=clinic,
                payer=medicare,
                effective_from=start,
                defaults={"name": "Medicare fees"},
            )
            if created:
                FeeScheduleItem.objects.bulk_create(
                    FeeScheduleItem(
                        schedule=schedule,
                        procedure_code=code,
                        charge=(Decimal(charge) * Decimal("0.9")).quantize(Decimal("0.01")),
                        expected_allowed=(Decimal(charge) * Decimal("0.55")).quantize(
                            Decimal("0.01")
                        ),
                    )
                    for code, _d, charge in PROCEDURES
                )

    def _claims(self, clinic: Clinic, biller: User, rng: random.Random) -> int:
        today = clinic.today()
        first = today - timedelta(days=HISTORY_DAYS)
        tz = clinic.tz
        visits = list(
            Visit.objects.filter(
                clinic=clinic,
                step=Step.CHECKED_OUT,
                encounter__isnull=True,
                checked_in_at__gte=datetime.combine(first, time(0), tzinfo=tz),
                checked_in_at__lt=datetime.combine(
                    today - timedelta(days=LEAVE_UNCODED_DAYS), time(0), tzinfo=tz
                ),
            )
            .select_related("patient", "coverage")
            .order_by("checked_in_at", "pk")
        )
        made = 0
        sent_before = today - timedelta(days=WAITING_DAYS)
        for n, visit in enumerate(visits):
            with transaction.atomic():  # a savepoint: a visit that cannot be coded is skipped
                claim = self._code(visit, biller, rng, draft=n % 29 == 7)
            if claim is None:
                continue
            made += 1
            if claim.service_date < sent_before and claim.status == ClaimStatus.HELD:
                self._fix(claim, biller)
        # Send the older scrubbed claims, a weekly batch each, then move them on.
        week_ends = sorted({v.checked_in_at.astimezone(tz).date() for v in visits})
        for day in week_ends:
            if day.weekday() != 4 or day >= sent_before:
                continue
            result = export.export_batch(actor=biller, clinic=clinic, through=day)
            if result is not None:
                self._backdate_batch(result.batch, day + timedelta(days=1), tz)
        answered = list(
            Claim.objects.filter(
                clinic=clinic,
                status=ClaimStatus.SUBMITTED,
                service_date__lt=today - timedelta(days=12),
            )
            .select_related("payer", "patient", "coverage")
            .prefetch_related("lines")
            .order_by("service_date", "pk")
        )
        remitted: list[tuple[Claim, str]] = []
        for claim in answered:
            outcome = rng.choices([o for o, _ in OUTCOMES], weights=[w for _, w in OUTCOMES])[0]
            if outcome in ("rejected", "accepted"):
                claims.transition(
                    actor=biller, claim=claim, to_status=outcome, reason=REASONS[outcome]
                )
            else:
                remitted.append((claim, outcome))
        demo_remits.post_demo_remittances(clinic, biller, remitted, rng)
        self._corrected_and_void(clinic, biller)
        self._backdate_claims(clinic, tz)
        return made

    def _code(self, visit: Visit, biller: User, rng: random.Random, *, draft: bool) -> Claim | None:
        child = visit.patient.date_of_birth.year > timezone.now().year - 18
        pool = CHILD_DX if child else ADULT_DX
        diagnoses = rng.sample(pool, k=rng.choice((1, 1, 2, 2, 3)))
        coverage = charges.billing_coverage(visit, visit.checked_in_at.date())
        if (
            coverage is not None
            and coverage.subscriber_relationship != Coverage.Relationship.SELF
            and coverage.subscriber_date_of_birth is not None
            and rng.random() < 0.25
        ):
            # The desk did not get the parent's date of birth: the scrubber holds the claim.
            Coverage._default_manager.filter(pk=coverage.pk).update(subscriber_date_of_birth=None)
        encounter = charges.start_encounter(actor=biller, visit=visit)
        charges.set_diagnoses(actor=biller, encounter=encounter, diagnoses=diagnoses)
        codes = [rng.choice(VISIT_CODES)]
        if rng.random() < 0.35:
            codes.append(rng.choice(EXTRAS))
        for k, code in enumerate(codes):
            try:
                charges.add_line(
                    actor=biller,
                    encounter=encounter,
                    code=code,
                    modifiers=["25"] if k == 0 and len(codes) > 1 and code.startswith("99") else [],
                    pointers=list(range(1, min(len(diagnoses), 4) + 1)),
                )
            except RevenueError:
                continue
        if draft or not encounter.lines.exists():
            return None
        return charges.mark_ready(actor=biller, encounter=encounter)

    def _fix(self, claim: Claim, biller: User) -> None:
        """What a biller does with a held claim: fill the subscriber's details, add the
        authorization number, and scrub again."""
        coverage = claim.coverage
        if coverage is not None and coverage.subscriber_relationship != Coverage.Relationship.SELF:
            patient = claim.patient
            Coverage._default_manager.filter(pk=coverage.pk).update(
                subscriber_name=coverage.subscriber_name or f"{patient.last_name}, Jordan",
                subscriber_date_of_birth=coverage.subscriber_date_of_birth or date(1984, 6, 1),
                subscriber_sex=coverage.subscriber_sex or "F",
                subscriber_address_line1=patient.address_line1 or "1 Main Street",
                subscriber_city=patient.city or "Harrisburg",
                subscriber_state=(patient.state or "PA")[:2],
                subscriber_postal_code=patient.postal_code or "17102",
            )
        with contextlib.suppress(RevenueError):
            claims.update_claim(
                actor=biller, claim=claim, prior_auth_number="AUTH" + claim.control_number[-6:]
            )

    def _corrected_and_void(self, clinic: Clinic, biller: User) -> None:
        if Claim.objects.filter(clinic=clinic).exclude(frequency="1").exists():
            return
        for frequency, status in (("7", ClaimStatus.DENIED), ("8", ClaimStatus.PAID)):
            original = (
                Claim.objects.filter(clinic=clinic, status=status, replacements__isnull=True)
                .order_by("service_date")
                .first()
            )
            if original is None:
                continue
            claims.replace_claim(
                actor=biller,
                claim=original,
                frequency=frequency,
                payer_claim_number=f"PCN{original.control_number[1:]}",
                reason="Wrong visit level" if frequency == "7" else "Billed to the wrong payer",
            )

    def _backdate_batch(self, batch: ExportBatch, day: date, tz: Any) -> None:
        at = datetime.combine(day, time(16, 0), tzinfo=tz)
        ExportBatch.objects.filter(pk=batch.pk).update(created_at=at)
        Claim.objects.filter(batch=batch).update(submitted_at=at)
        ClaimEvent.objects.filter(claim__batch=batch, to_status="submitted").update(at=at)

    def _backdate_claims(self, clinic: Clinic, tz: Any) -> None:
        """Claims built today for past visits: move their times to the days after the visit."""
        now = timezone.now()
        for claim in Claim.objects.filter(
            clinic=clinic, created_at__date__gte=now.date() - timedelta(days=1)
        ):
            billed = datetime.combine(claim.service_date + timedelta(days=1), time(10), tzinfo=tz)
            if billed >= now:
                continue
            updates: dict[str, Any] = {"created_at": billed}
            if claim.first_scrubbed_at is not None:
                updates["first_scrubbed_at"] = billed
                updates["last_scrubbed_at"] = billed
            Claim.objects.filter(pk=claim.pk).update(**updates)
            step = timedelta(days=4)
            for k, event in enumerate(claim.events.exclude(to_status="submitted").order_by("pk")):
                at = billed + (step * k if k > 1 else timedelta(minutes=5 * k))
                if event.to_status != "submitted":
                    ClaimEvent.objects.filter(pk=event.pk).update(at=min(at, now))


REASONS = {
    "accepted": "Accepted by the payer (277CA)",
    "rejected": "Rejected by the clearinghouse: invalid member ID",
    "paid": "Paid in full (835)",
    "partially_paid": "Paid in part (835)",
    "denied": "Denied: CO-197 authorization absent",
    "appealed": "Appeal sent with the authorization",
    "closed": "Balance settled",
}
