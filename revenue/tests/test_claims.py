"""Claims: the status machine, who and why, control numbers, scoping."""

from __future__ import annotations

import pytest

from clinicops.core import roles
from revenue import claim_status
from revenue.models import Claim, ClaimEvent, ClaimStatus
from revenue.services import RevenueError, claims, export

pytestmark = pytest.mark.django_db


def test_every_status_has_its_moves_listed():
    assert set(claim_status.TRANSITIONS) == set(ClaimStatus.values)
    for targets in claim_status.TRANSITIONS.values():
        assert targets <= set(ClaimStatus.values)


def test_the_path_to_paid_and_closed_with_who_and_why(clinic, visit, make_claim, biller):
    claim = make_claim(visit)
    export.export_batch(actor=biller, clinic=clinic)
    for to in ("accepted", "denied", "appealed", "paid", "closed"):
        claims.transition(actor=biller, claim=claim, to_status=to, reason=f"because {to}")
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.CLOSED
    events = list(claim.events.order_by("at", "pk").values_list("from_status", "to_status"))
    assert events == [
        ("", "draft"),
        ("draft", "scrubbed"),
        ("scrubbed", "submitted"),
        ("submitted", "accepted"),
        ("accepted", "denied"),
        ("denied", "appealed"),
        ("appealed", "paid"),
        ("paid", "closed"),
    ]
    last = claim.events.order_by("-pk").first()
    assert last.actor == biller
    assert last.reason == "because closed"


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        ((), "paid"),  # scrubbed -> paid skips submission
        ((), "submitted"),  # only the export submits
        (("accepted", "paid", "closed"), "denied"),  # closed is final
        (("rejected",), "accepted"),
    ],
)
def test_moves_not_allowed_are_refused_and_change_nothing(
    clinic, visit, make_claim, biller, path, refused
):
    claim = make_claim(visit)
    if path:
        export.export_batch(actor=biller, clinic=clinic)
    for to in path:
        claims.transition(actor=biller, claim=claim, to_status=to, reason="x")
    claim.refresh_from_db()
    before = (claim.status, ClaimEvent.objects.count())
    with pytest.raises(RevenueError):
        claims.transition(actor=biller, claim=claim, to_status=refused, reason="try")
    claim.refresh_from_db()
    assert (claim.status, ClaimEvent.objects.count()) == before


def test_a_reason_is_required(clinic, visit, make_claim, biller):
    claim = make_claim(visit)
    with pytest.raises(RevenueError) as refused:
        claims.transition(actor=biller, claim=claim, to_status="closed", reason="  ")
    assert refused.value.field == "reason"


def test_control_numbers_are_short_unique_and_carry_a_check_digit(db):
    from clinicops.core.models import luhn_check_digit

    numbers = Claim.next_control_numbers(50)
    assert len(set(numbers)) == 50
    for n in numbers:
        assert len(n) <= 20
        assert n.startswith("C")
        assert luhn_check_digit(n[1:-1]) == int(n[-1])
    # Never reused: the next ones are new.
    assert not set(numbers) & set(Claim.next_control_numbers(5))


def test_a_biller_of_another_clinic_never_sees_or_moves_the_claims(
    other_clinic, make_user, visit, make_claim, client
):
    claim = make_claim(visit)
    stranger = make_user(roles.BILLER, clinics=[other_clinic], username="otherbiller")
    assert not Claim.objects.for_user(stranger).exists()
    with pytest.raises(Claim.DoesNotExist):
        claims.transition(actor=stranger, claim=claim, to_status="closed", reason="x")
    client.force_login(stranger)
    assert client.get(f"/billing/claims/{claim.pk}/").status_code == 404
    assert client.post(f"/billing/claims/{claim.pk}/scrub/").status_code == 404
    listing = client.get("/billing/claims/")
    assert claim.control_number not in listing.content.decode()


def test_a_void_needs_the_payers_claim_number(clinic, visit, make_claim, biller):
    claim = make_claim(visit)
    with pytest.raises(RevenueError, match="sent to the payer"):
        claims.replace_claim(
            actor=biller, claim=claim, frequency="8", payer_claim_number="X", reason="r"
        )
    export.export_batch(actor=biller, clinic=clinic)
    with pytest.raises(RevenueError) as refused:
        claims.replace_claim(
            actor=biller, claim=claim, frequency="8", payer_claim_number="", reason="r"
        )
    assert refused.value.field == "payer_claim_number"
