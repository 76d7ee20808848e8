"""835 posting: hand-written remittances (paid, denied, partial, reversal, PLB, secondary,
unbalanced, duplicate, malformed, wrong version, wrong separators, a claim not ours, a negative
line, an unknown CARC); the balance check holds after each; the same file twice and concurrent
imports post once; random corruption posts whole or not at all."""

from __future__ import annotations

import random
import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from clinicops.core.models import Coverage
from clinicops.core.tests.factories import PayerFactory
from revenue.models import (
    Claim,
    ClaimStatus,
    DenialItem,
    LedgerEntry,
    Remittance,
    RemittanceException,
)
from revenue.services import balances, remittances
from revenue.x12.reader_835 import RemitRefused
from revenue.x12.writer_835 import Cas, Plb, RemitLine

from .factories import checked_out_visit, coverage_for
from .remits import D, paid_in_full_line, remit, remit_claim, submit

pytestmark = pytest.mark.django_db

K = LedgerEntry.Kind


@pytest.fixture
def claim(visit, make_claim):
    return submit(make_claim(visit, lines=(("99213", [1]), ("36415", [1]))))


@pytest.fixture
def another(clinic, provider, patient, coverage, make_claim):
    return submit(make_claim(checked_out_visit(clinic, provider=provider, patient=patient,
                                               coverage=coverage)))  # fmt: skip


def post(text, biller, clinic=None):
    return remittances.import_835(actor=biller, content=text.encode(), clinic=clinic)


def assert_balanced():
    checked, mismatches = balances.check()
    assert checked > 0
    assert mismatches == []


def nothing_posted():
    assert Remittance.objects.count() == 0
    assert LedgerEntry.objects.count() == 0
    assert DenialItem.objects.count() == 0
    assert not Claim.objects.exclude(status=ClaimStatus.SUBMITTED).exists()


def test_paid_claim_posts_payment_and_contractual_and_patient_share(claim, billing, biller):
    lines = paid_in_full_line(claim, contractual=D("5.00"), patient=D("2.00"))
    result = post(remit([remit_claim(claim, lines)], billing=billing), biller)
    assert (result.claims_posted, result.lines_posted, result.denials_opened) == (1, 2, 0)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.PAID
    # 125 + 15 charged; each line 5 contractual and 2 patient.
    assert claim.paid_amount == D("126.00")
    assert claim.adjusted_amount == D("10.00")
    assert claim.balance == D("4.00")
    assert claim.patient_balance == D("4.00")
    assert claim.first_remit_denied is False
    assert claim.payer_claim_number.startswith("PAYER")
    kinds = sorted(LedgerEntry.objects.filter(claim=claim).values_list("kind", flat=True))
    assert kinds == sorted([K.PAYMENT] * 2 + [K.CONTRACTUAL] * 2 + [K.PATIENT_RESPONSIBILITY] * 2)
    assert all(e.claim_line_id for e in LedgerEntry.objects.filter(claim=claim))
    assert balances.patient_balance(claim.patient_id) == D("4.00")
    assert_balanced()


def test_denied_claim_opens_a_work_item_per_line_with_bucket_and_deadline(
    claim, billing, biller, payer
):
    lines = tuple(
        RemitLine(line.procedure_code, line.charge, D("0"),
                  (Cas("CO", "197", line.charge),), line_id=line.line_id,
                  service_date=line.service_date, remarks=("N54",))
        for line in claim.lines.all()
    )  # fmt: skip
    post(remit([remit_claim(claim, lines, status="4")], billing=billing), biller)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.DENIED
    assert claim.balance == claim.total_charge  # denials stay in A/R until worked
    assert claim.first_remit_denied is True
    items = list(DenialItem.objects.order_by("claim_line__position"))
    assert [i.amount for i in items] == [D("125.00"), D("15.00")]
    assert {i.bucket for i in items} == {"authorization"}
    assert items[0].carcs == ["CO-197"]
    assert items[0].rarcs == ["N54"]
    assert items[0].due_date == items[0].denied_on + __import__("datetime").timedelta(days=90)
    assert items[0].payer == payer
    assert_balanced()


def test_partial_payment_denies_one_line(claim, billing, biller):
    first, second = claim.lines.all()
    lines = (
        RemitLine(first.procedure_code, first.charge, D("100.00"), (Cas("CO", "45", D("25.00")),),
                  line_id=first.line_id),
        RemitLine(second.procedure_code, second.charge, D("0"), (Cas("CO", "97", D("15.00")),),
                  line_id=second.line_id),
    )  # fmt: skip
    result = post(remit([remit_claim(claim, lines)], billing=billing), biller)
    claim.refresh_from_db()
    assert claim.status == ClaimStatus.PARTIALLY_PAID
    assert result.denials_opened == 1
    item = DenialItem.objects.get()
    assert (item.claim_line_id, item.bucket, item.amount) == (second.pk, "coding", D("15.00"))
    assert claim.balance == D("15.00")
    assert claim.first_remit_denied is True
    assert_balanced()


def test_reversal_undoes_a_payment_with_negative_rows(claim, billing, biller):
    lines = paid_in_full_line(claim, contractual=D("5.00"))
    post(remit([remit_claim(claim, lines)], billing=billing, trace="T1"), biller)
    negated = tuple(
        RemitLine(x.code, -x.charge, -x.paid,
                  tuple(Cas(a.group, a.reason, -a.amount) for a in x.adjustments),
                  line_id=x.line_id)
        for x in lines
    )  # fmt: skip
    post(remit([remit_claim(claim, negated, status="22")], billing=billing, trace="T2"), biller)
    claim.refresh_from_db()
    assert claim.balance == claim.total_charge
    assert claim.paid_amount == 0
    assert claim.status == ClaimStatus.ACCEPTED
    reversed_rows = LedgerEntry.objects.filter(claim=claim, reversal=True)
    assert reversed_rows.count() == 4
    assert sum(e.amount for e in LedgerEntry.objects.filter(claim=claim)) == 0
    assert_balanced()


def test_plb_reduces_the_payment_and_is_kept_on_the_remittance(claim, billing, biller):
    lines = paid_in_full_line(claim, contractual=D("5.00"))
    text = remit([remit_claim(claim, lines)], billing=billing, plb=[Plb("WO", "OVP1", D("20"))])
    result = post(text, biller)
    stored = Remittance.objects.get()
    assert stored.total_paid == D("110.00")  # 130 paid - 20 recovered
    assert stored.provider_adjustments == D("20.00")
    assert result.provider_adjustments == D("20.00")
    plb = LedgerEntry.objects.get(kind=K.PROVIDER)
    assert plb.claim_id is None
    assert plb.amount == D("20.00")
    assert_balanced()


def test_secondary_moves_the_patient_share_to_the_next_coverage(claim, billing, biller, patient):
    second = PayerFactory(name="Second Plan", payer_id="SEC01")
    coverage_for(patient, second, priority=Coverage.Priority.SECONDARY)
    lines = paid_in_full_line(claim, contractual=D("5.00"), patient=D("3.00"))
    post(remit([remit_claim(claim, lines, status="19")], billing=billing), biller)
    claim.refresh_from_db()
    assert claim.next_payer == second
    assert claim.patient_balance == 0
    assert claim.balance == D("6.00")
    assert LedgerEntry.objects.get(kind=K.TRANSFER).amount == D("6.00")
    assert_balanced()


def test_secondary_without_other_coverage_keeps_the_patient_share_and_says_so(
    claim, billing, biller
):
    lines = paid_in_full_line(claim, contractual=D("5.00"), patient=D("3.00"))
    result = post(remit([remit_claim(claim, lines, status="19")], billing=billing), biller)
    claim.refresh_from_db()
    assert claim.patient_balance == D("6.00")
    assert "no other coverage" in result.notes[0]
    assert_balanced()


def test_unbalanced_line_is_refused_whole_naming_segment_and_numbers(
    claim, another, billing, biller
):
    good = remit_claim(another, paid_in_full_line(another))
    first, second = claim.lines.all()
    bad_lines = (
        RemitLine(first.procedure_code, first.charge, D("90.00"), (Cas("CO", "45", D("25")),),
                  line_id=first.line_id),
        RemitLine(second.procedure_code, second.charge, D("15.00"), (), line_id=second.line_id),
    )  # fmt: skip
    text = remit([good, remit_claim(claim, bad_lines)], billing=billing)
    with pytest.raises(RemitRefused) as refused:
        post(text, biller)
    assert "SVC 99213" in refused.value.message
    assert "charge 125.00 - adjustments 25.00 = 100.00, but it says paid 90.00" in (
        refused.value.message
    )
    nothing_posted()


def test_bpr_not_matching_claims_minus_plb_is_refused(claim, billing, biller):
    text = remit([remit_claim(claim, paid_in_full_line(claim))], billing=billing,
                 total=D("999.00"))  # fmt: skip
    with pytest.raises(RemitRefused, match=r"BPR02 999.00 does not balance.*should be 90.00"):
        post(text, biller)
    nothing_posted()


def test_same_file_twice_posts_nothing_the_second_time(claim, billing, biller):
    text = remit([remit_claim(claim, paid_in_full_line(claim))], billing=billing)
    post(text, biller)
    before = (LedgerEntry.objects.count(), DenialItem.objects.count())
    claim.refresh_from_db()
    balance = claim.balance
    again = post(text, biller)
    assert again.duplicate
    assert "Already posted" in again.summary()
    assert (LedgerEntry.objects.count(), DenialItem.objects.count()) == before
    claim.refresh_from_db()
    assert claim.balance == balance
    # The same trace in another file (another layout) too.
    other = remit([remit_claim(claim, paid_in_full_line(claim, contractual=D("1")))],
                  billing=billing)  # fmt: skip
    assert post(other, biller).duplicate
    assert LedgerEntry.objects.count() == before[0]
    assert_balanced()


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda t: t[: len(t) // 2], "truncated"),
        (lambda t: "", "empty"),
        (lambda t: "hello world", "not an X12 file"),
        (lambda t: t.replace("005010X221A1", "004010X091A1"), "only 835 version 005010X221A1"),
        (lambda t: t.replace("*", "|", 2), "wrong separators"),
        (lambda t: t.replace("CLP*", "CLQ*", 1), "pyx12 found"),
        (lambda t: t.replace("~\nSVC*HC:99213*125*", "~\nSVC*HC:99213*12X5*", 1), "pyx12 found"),
    ],
    ids=["truncated", "empty", "not-x12", "wrong-version", "wrong-separators", "bad-segment",
         "bad-amount"],
)  # fmt: skip
def test_malformed_files_are_refused_with_a_reason_and_post_nothing(
    claim, billing, biller, damage, expected
):
    text = damage(remit([remit_claim(claim, paid_in_full_line(claim))], billing=billing))
    with pytest.raises(RemitRefused) as refused:
        post(text, biller)
    assert expected in refused.value.message
    nothing_posted()


def test_claim_not_ours_goes_to_exceptions_with_raw_segments(claim, billing, biller):
    stranger = remit_claim(claim, paid_in_full_line(claim))
    stranger = type(stranger)(**{**stranger.__dict__, "control_number": "X99999"})
    text = remit([remit_claim(claim, paid_in_full_line(claim)), stranger], billing=billing)
    result = post(text, biller)
    assert result.exceptions == 1
    assert result.claims_posted == 1
    problem = RemittanceException.objects.get()
    assert problem.control_number == "X99999"
    assert problem.segments.startswith("CLP*X99999*1*")
    assert "SVC*HC:99213" in problem.segments
    assert_balanced()


def test_line_without_ref_6r_matches_by_code_and_date(claim, billing, biller):
    lines = tuple(
        RemitLine(line.procedure_code, line.charge, line.charge, (),
                  service_date=line.service_date)
        for line in claim.lines.all()
    )  # fmt: skip
    post(remit([remit_claim(claim, lines)], billing=billing), biller)
    assert set(LedgerEntry.objects.values_list("claim_line__procedure_code", flat=True)) == {
        "99213",
        "36415",
    }
    assert_balanced()


def test_unmatched_line_is_posted_to_the_claim_and_listed(claim, billing, biller):
    first, second = claim.lines.all()
    lines = (
        RemitLine(first.procedure_code, first.charge, first.charge, (), line_id=first.line_id),
        RemitLine("99499", second.charge, second.charge, ()),
    )  # fmt: skip
    result = post(remit([remit_claim(claim, lines)], billing=billing), biller)
    assert result.exceptions == 1
    assert RemittanceException.objects.get().reason == RemittanceException.Reason.LINE_NOT_FOUND
    claim.refresh_from_db()
    assert claim.balance == 0
    assert_balanced()


def test_negative_charge_on_an_original_claim_is_refused(claim, billing, biller):
    first, second = claim.lines.all()
    lines = (
        RemitLine(first.procedure_code, first.charge, first.charge, (), line_id=first.line_id),
        RemitLine(second.procedure_code, D("-15"), D("-15"), (), line_id=second.line_id),
    )  # fmt: skip
    text = remit([remit_claim(claim, lines)], billing=billing)
    with pytest.raises(RemitRefused, match=r"the charge -15.00 is negative.*CLP02 1"):
        post(text, biller)
    nothing_posted()


def test_unknown_carc_is_kept_flagged_and_denied_as_other(claim, billing, biller):
    first, second = claim.lines.all()
    lines = (
        RemitLine(first.procedure_code, first.charge, first.charge, (), line_id=first.line_id),
        RemitLine(second.procedure_code, second.charge, D("0"), (Cas("CO", "Z9", D("15")),),
                  line_id=second.line_id),
    )  # fmt: skip
    result = post(remit([remit_claim(claim, lines)], billing=billing), biller)
    assert result.unknown_codes == ["CO-Z9"]
    assert "unknown codes kept and flagged: CO-Z9" in result.summary()
    row = LedgerEntry.objects.get(reason_code="Z9")
    assert row.unknown_code
    assert row.kind == K.DENIAL
    assert DenialItem.objects.get().bucket == "other"
    assert_balanced()


def test_file_paying_another_npi_is_refused(claim, billing, biller, clinic):
    text = remit([remit_claim(claim, paid_in_full_line(claim))], billing=billing)
    text = text.replace(billing.group_npi, "1234567893")
    with pytest.raises(RemitRefused, match="not the billing NPI"):
        post(text, biller, clinic=clinic)
    nothing_posted()


def test_command_prints_counts_and_refuses_with_non_zero_exit(claim, billing, tmp_path):
    path = tmp_path / "remit.835"
    path.write_text(remit([remit_claim(claim, paid_in_full_line(claim))], billing=billing))
    out = StringIO()
    call_command("import_835", str(path), stdout=out)
    assert "Posted 1 claim, 2 lines, paid 90.00" in out.getvalue()
    with pytest.raises(CommandError, match="Already posted"):
        call_command("import_835", str(path))
    bad = tmp_path / "bad.835"
    bad.write_text("ISA*nonsense")
    with pytest.raises(CommandError, match="Refused, nothing posted"):
        call_command("import_835", str(bad))
    out = StringIO()
    call_command("check_balances", stdout=out)
    assert "every balance matches" in out.getvalue()


def test_check_balances_finds_a_claim_that_drifted_from_its_ledger(claim, billing, biller):
    post(remit([remit_claim(claim, paid_in_full_line(claim))], billing=billing), biller)
    Claim.objects.filter(pk=claim.pk).update(balance=D("1.00"))
    with pytest.raises(CommandError, match="1 of 1 claims do not match"):
        call_command("check_balances", stderr=StringIO())


def test_ledger_rows_refuse_update_and_delete(claim, billing, biller):
    from django.db import DatabaseError, transaction

    post(remit([remit_claim(claim, paid_in_full_line(claim))], billing=billing), biller)
    row = LedgerEntry.objects.first()
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEntry.objects.filter(pk=row.pk).update(amount=1)
    with pytest.raises(DatabaseError), transaction.atomic():
        LedgerEntry.objects.filter(pk=row.pk).delete()


def _corrupt(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(("flip", "drop", "dup", "digit"))
        i = rng.randrange(len(chars))
        if op == "flip":
            chars[i] = rng.choice("*~:^0123456789ABCXZ-. \n")
        elif op == "drop":
            del chars[i]
        elif op == "dup":
            chars.insert(i, chars[i])
        else:
            digits = [j for j, c in enumerate(chars) if c.isdigit()]
            j = rng.choice(digits)
            chars[j] = str((int(chars[j]) + rng.randint(1, 9)) % 10)
    return "".join(chars)


def test_fuzz_random_corruption_posts_whole_or_not_at_all(claim, another, billing, biller):
    """Each corrupted copy of a valid file is either refused (nothing posted) or posted whole:
    the ledger of that remittance adds up to what its file says, and balances hold."""
    lines = paid_in_full_line(claim, contractual=D("5.00"), patient=D("1.00"))
    valid = remit(
        [remit_claim(claim, lines), remit_claim(another, paid_in_full_line(another))],
        billing=billing,
        plb=[Plb("L6", "INT", D("-2"))],
    )
    rng = random.Random(835)
    posted = refused = 0
    for n in range(60):
        text = _corrupt(valid, rng).replace("TRACE1", f"TRACE{n:03d}")
        before = LedgerEntry.objects.count()
        try:
            result = post(text, biller)
        except RemitRefused as error:
            refused_message = error.message
            assert LedgerEntry.objects.count() == before, refused_message
            refused += 1
            continue
        posted += 1
        remittance = result.remittance
        # Whole: every claim payment is in the ledger or in the exceptions (a claim number the
        # corruption made unknown), and with the PLB they add up to the check.
        claim_rows = LedgerEntry.objects.filter(remittance=remittance, kind=K.PAYMENT)
        unmatched = RemittanceException.objects.filter(
            remittance=remittance, reason=RemittanceException.Reason.CLAIM_NOT_FOUND
        )
        assert (
            sum(r.amount for r in claim_rows)
            + sum(u.amount for u in unmatched)
            - remittance.provider_adjustments
            == remittance.total_paid
        )
        assert_balanced()
    assert refused > 0
    assert posted + refused == 60


def _runner(barrier, text, biller, outcomes):
    def run() -> None:
        try:
            barrier.wait()
            result = post(text, biller)
            outcomes.append("dup" if result.duplicate else "posted")
        except Exception as error:  # recorded and asserted by the caller
            outcomes.append(repr(error))
        finally:
            connection.close()

    return run


@pytest.mark.django_db(transaction=True)
def test_concurrent_imports_of_one_file_post_it_once(claim, billing, biller):
    text = remit([remit_claim(claim, paid_in_full_line(claim))], billing=billing)
    for round_no in range(5):
        trace_text = text.replace("TRACE1", f"RACE{round_no}")
        barrier = threading.Barrier(4)
        outcomes: list[str] = []
        run = _runner(barrier, trace_text, biller, outcomes)
        threads = [threading.Thread(target=run) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(outcomes) == ["dup", "dup", "dup", "posted"], outcomes
    assert Remittance.objects.count() == 5
    claim.refresh_from_db()
    # Five payments of the same claim (five traces): each posted once.
    assert claim.paid_amount == 5 * D("140.00") - 5 * 2 * D("25.00")
    assert_balanced()


def test_other_separators_declared_in_the_isa_are_read(claim, billing, biller):
    """A payer may use other (consistent) separators: the ISA declares them, both pyx12 and
    our reader follow it."""
    text = remit([remit_claim(claim, paid_in_full_line(claim))], billing=billing)
    other = text.replace("*", "|").replace(":", ">").replace("~", "'")
    result = post(other, biller)
    assert result.claims_posted == 1
    claim.refresh_from_db()
    assert claim.paid_amount == D("90.00")  # 140 charged, 25.00 contractual on each line
    assert claim.balance == 0
    assert_balanced()
