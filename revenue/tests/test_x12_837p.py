"""The 837P writer: every file it builds validates in pyx12 with zero errors, for varied claims.

No database: the writer takes dataclasses. Each test builds a file, runs pyx12 on it
(`validate_x12`) and checks the segments that carry the case (HL levels, CLM05, REF*F8, HI...).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revenue.x12 import samples as s
from revenue.x12.claim_data import (
    Address,
    Adjustment,
    Claim,
    PersonName,
    ServiceLine,
    X12DataError,
)
from revenue.x12.segments import claim_segments, format_segments, parse_segments
from revenue.x12.validate import validate_x12
from revenue.x12.writer_837p import amount, build_837p, clean_text


def build(*claims: Claim, control: int = 1) -> str:
    return build_837p(s.interchange(control), [s.group(tuple(claims), control=control)])


def assert_valid(x12: str) -> None:
    issues = validate_x12(x12)
    assert issues == [], "\n".join(str(i) for i in issues)


def segs(x12: str, sid: str) -> list[list[str]]:
    return [e for e in parse_segments(x12) if e[0] == sid]


def test_patient_is_subscriber() -> None:
    x12 = build(s.sample_claim(2, dependent_patient=False))
    assert_valid(x12)
    assert [hl[3] for hl in segs(x12, "HL")] == ["20", "22"]
    sbr = segs(x12, "SBR")[0]
    assert sbr[1:3] == ["P", "18"]
    assert not segs(x12, "PAT")
    assert segs(x12, "DMG")  # the subscriber's demographics, required when they are the patient


def test_patient_is_not_subscriber() -> None:
    x12 = build(s.sample_claim(1, dependent_patient=True))
    assert_valid(x12)
    hls = segs(x12, "HL")
    assert [hl[3] for hl in hls] == ["20", "22", "23"]
    assert hls[1][4] == "1"  # the subscriber level has a child
    assert hls[2][2] == hls[1][1]  # the patient level's parent is the subscriber level
    assert segs(x12, "SBR")[0][2] == ""  # SBR02 only when the subscriber is the patient
    assert segs(x12, "PAT") == [["PAT", "19"]]
    assert [nm1[1] for nm1 in segs(x12, "NM1") if nm1[1] == "QC"] == ["QC"]


def test_four_modifiers() -> None:
    base = s.sample_claim(3, lines=1, diagnoses=2)
    line = dataclasses.replace(base.lines[0], modifiers=("25", "59", "gt", "XU"))
    x12 = build(dataclasses.replace(base, lines=(line,)))
    assert_valid(x12)
    assert segs(x12, "SV1")[0][1] == f"HC:{line.procedure_code}:25:59:GT:XU"


def test_five_modifiers_are_refused() -> None:
    base = s.sample_claim(3, lines=1, diagnoses=2)
    line = dataclasses.replace(base.lines[0], modifiers=("25", "59", "GT", "XU", "95"))
    with pytest.raises(X12DataError, match="modifiers"):
        build(dataclasses.replace(base, lines=(line,)))


def test_twelve_diagnoses_principal_first() -> None:
    claim = s.sample_claim(4, diagnoses=12, lines=3)
    x12 = build(claim)
    assert_valid(x12)
    hi = segs(x12, "HI")[0]
    assert len(hi) == 13
    assert hi[1] == "ABK:J449"
    assert all(c.startswith("ABF:") for c in hi[2:])
    assert hi[12] == "ABF:R519"  # dots removed
    with pytest.raises(X12DataError, match="1 to 12 diagnoses"):
        build(dataclasses.replace(claim, diagnoses=(*claim.diagnoses, "R10.9")))


def test_several_lines_numbered_with_line_ids() -> None:
    claim = s.sample_claim(5, lines=6, diagnoses=4)
    x12 = build(claim)
    assert_valid(x12)
    assert [lx[1] for lx in segs(x12, "LX")] == ["1", "2", "3", "4", "5", "6"]
    assert [r[2] for r in segs(x12, "REF") if r[1] == "6R"] == [f"L5-{i}" for i in range(1, 7)]
    assert len(segs(x12, "DTP")) == 6
    total = sum(Decimal(sv1[2]) for sv1 in segs(x12, "SV1"))
    assert Decimal(segs(x12, "CLM")[0][2]) == total == claim.total_charge


def test_secondary_claim_with_other_payer_loops() -> None:
    x12 = build(s.secondary_claim(7))
    assert_valid(x12)
    loops = [loop for loop, _ in format_segments(x12)]
    for name in ("2320 Other subscriber", "2330A Other subscriber name", "2330B Other payer"):
        assert name in loops
    assert "2430 Line adjudication" in loops
    sbrs = segs(x12, "SBR")
    assert [sbr[1] for sbr in sbrs] == ["S", "P"]  # we bill the secondary; the primary paid
    assert segs(x12, "AMT")[0][1] == "D"
    assert segs(x12, "SVD")[0][1] == s.PAYERS[0].payer_id


def test_line_adjudication_must_name_an_other_payer() -> None:
    claim = s.secondary_claim(7)
    line = claim.lines[0]
    wrong = dataclasses.replace(line.adjudications[0], payer_id="NOBODY")
    lines = (dataclasses.replace(line, adjudications=(wrong,)), *claim.lines[1:])
    bad = dataclasses.replace(claim, lines=lines)
    with pytest.raises(X12DataError, match=r"adjudications\[1\]\.payer_id"):
        build(bad)


def test_secondary_claim_adjudicated_at_claim_level_only() -> None:
    claim = s.secondary_claim(11)
    primary = claim.other_payers[0]
    lines = tuple(dataclasses.replace(line, adjudications=()) for line in claim.lines)
    paid = claim.total_charge - Decimal("40.00")
    at_claim = dataclasses.replace(
        primary,
        paid_amount=paid,
        adjustments=(Adjustment("CO", "45", Decimal("30.00")), Adjustment("PR", "1", Decimal(10))),
        adjudication_date=dt.date(2026, 11, 21),
    )
    x12 = build(dataclasses.replace(claim, lines=lines, other_payers=(at_claim,)))
    assert_valid(x12)
    assert segs(x12, "CAS") == [["CAS", "CO", "45", "30"], ["CAS", "PR", "1", "10"]]
    assert ["DTP", "573", "D8", "20261121"] in segs(x12, "DTP")
    assert not segs(x12, "SVD")
    with pytest.raises(X12DataError, match="adjudication_date"):
        build(
            dataclasses.replace(
                claim,
                lines=lines,
                other_payers=(dataclasses.replace(at_claim, adjudication_date=None),),
            )
        )


def test_other_payer_amounts_must_balance() -> None:
    claim = s.secondary_claim(12)
    primary = claim.other_payers[0]
    off_by_a_cent = dataclasses.replace(primary, paid_amount=primary.paid_amount + Decimal("0.01"))
    with pytest.raises(X12DataError, match=r"other_payers\[1\]\.paid_amount: does not balance"):
        build(dataclasses.replace(claim, other_payers=(off_by_a_cent,)))
    line = claim.lines[0]
    adj = line.adjudications[0]
    short = dataclasses.replace(adj, paid_amount=adj.paid_amount - Decimal(1))
    lines = (dataclasses.replace(line, adjudications=(short,)), *claim.lines[1:])
    with pytest.raises(X12DataError, match=r"lines\[1\]\.adjudications\[1\]: does not balance"):
        build(dataclasses.replace(claim, lines=lines))
    same_rank = dataclasses.replace(primary, payer_responsibility="S")
    with pytest.raises(X12DataError, match="payer_responsibility"):
        build(dataclasses.replace(claim, other_payers=(same_rank,)))
    with pytest.raises(X12DataError, match="appears twice"):
        build(
            dataclasses.replace(
                claim,
                other_payers=(primary, dataclasses.replace(primary, payer_responsibility="T")),
            )
        )


def test_billing_provider_address_is_not_a_po_box() -> None:
    billing = dataclasses.replace(
        s.BILLING, address=Address("P.O. Box 12", "Springfield", "IL", "627011234")
    )
    group = dataclasses.replace(s.group((s.sample_claim(1),)), billing_provider=billing)
    with pytest.raises(X12DataError, match=r"billing_provider\.address\.line1"):
        build_837p(s.interchange(), [group])


@pytest.mark.parametrize("frequency", ["7", "8"])
def test_corrected_and_void_claims(frequency: str) -> None:
    claim = dataclasses.replace(
        s.sample_claim(8), frequency_code=frequency, original_claim_reference="PAYERICN0001"
    )
    x12 = build(claim)
    assert_valid(x12)
    clm = segs(x12, "CLM")[0]
    assert clm[5] == f"11:B:{frequency}"
    assert ["REF", "F8", "PAYERICN0001"] in segs(x12, "REF")


def test_corrected_claim_needs_the_original_reference() -> None:
    with pytest.raises(X12DataError, match="original_claim_reference"):
        build(dataclasses.replace(s.sample_claim(8), frequency_code="7"))


def test_prior_authorization_and_referral() -> None:
    claim = dataclasses.replace(
        s.sample_claim(9), prior_authorization="PA-778", referral_number="RF1"
    )
    x12 = build(claim)
    assert_valid(x12)
    refs = segs(x12, "REF")
    assert ["REF", "G1", "PA-778"] in refs
    assert ["REF", "9F", "RF1"] in refs


def test_several_payers_one_group_each() -> None:
    groups = [
        s.group(tuple(s.sample_claim(n, payer=payer) for n in range(i * 10, i * 10 + 4)),
                payer=payer, control=100 + i)
        for i, payer in enumerate(s.PAYERS)
    ]  # fmt: skip
    x12 = build_837p(s.interchange(42), groups)
    assert_valid(x12)
    gs = segs(x12, "GS")
    assert [g[6] for g in gs] == ["100", "101", "102"]
    assert [g[8] for g in gs] == ["005010X222A1"] * 3
    assert [st_[2] for st_ in segs(x12, "ST")] == ["0100", "0101", "0102"]
    assert segs(x12, "IEA")[0][1:] == ["3", "000000042"]
    payer_ids = [nm1[9] for nm1 in segs(x12, "NM1") if nm1[1] == "PR"]
    assert payer_ids == [p.payer_id for p in s.PAYERS for _ in range(4)]


def test_a_varied_batch_validates() -> None:
    """60 sample claims of every shape the sample generator makes, plus secondaries."""
    claims = [s.sample_claim(n) for n in range(60)] + [s.secondary_claim(n) for n in (61, 62)]
    x12 = build(*claims)
    assert_valid(x12)
    assert len(segs(x12, "CLM")) == 62
    assert {len(h) for h in segs(x12, "HI")} == set(range(2, 14))  # 1 to 12 diagnoses


def test_round_trip_counts_and_control_numbers() -> None:
    groups = [
        s.group((s.sample_claim(1), s.sample_claim(2)), control=7),
        s.group((s.secondary_claim(3),), payer=s.PAYERS[1], control=8),
    ]
    x12 = build_837p(s.interchange(123456789), groups)
    rows = parse_segments(x12)
    assert rows[0][0] == "ISA"
    assert rows[-1][0] == "IEA"
    assert rows[0][13] == rows[-1][2] == "123456789"
    assert len(x12.split("~")) - 1 == len(rows)
    open_st = open_gs = None
    count = 0
    groups_seen = 0
    for row in rows:
        if row[0] == "GS":
            open_gs, groups_seen = row[6], groups_seen + 1
        elif row[0] == "ST":
            open_st, count = row[2], 0
        if open_st is not None:
            count += 1
        if row[0] == "SE":
            assert int(row[1]) == count, "SE01 counts ST to SE"
            assert row[2] == open_st
            open_st = None
        elif row[0] == "GE":
            assert row[1:] == ["1", open_gs]
    assert int(rows[-1][1]) == groups_seen == 2
    assert [r[6] for r in rows if r[0] == "GS"] == ["7", "8"]


def test_a_broken_file_is_reported() -> None:
    """The check can fail: damage a valid file three ways and pyx12 names each damage."""
    good = build(s.sample_claim(2, dependent_patient=False))
    assert_valid(good)

    wrong_count = good.replace("SE*", "SE*9", 1)
    issues = validate_x12(wrong_count)
    assert any(i.segment == "ST" and "SE count" in i.message for i in issues), issues

    bad_state = good.replace("*SPRINGFIELD*IL*62704", "*SPRINGFIELD*QQ*62704", 1)
    assert any(i.element == "N402" for i in validate_x12(bad_state))

    no_diagnoses = "".join(
        line for line in good.splitlines(keepends=True) if not line.startswith("HI*")
    )
    no_diagnoses = no_diagnoses.replace(
        f"SE*{segs(good, 'SE')[0][1]}*", f"SE*{int(segs(good, 'SE')[0][1]) - 1}*"
    )
    missing = validate_x12(no_diagnoses)
    assert any(i.segment == "HI" and "missing" in i.message for i in missing), missing

    assert validate_x12("this is not X12")


def test_cached_maps_give_the_same_findings() -> None:
    good = build(s.sample_claim(1), s.secondary_claim(3))
    bad = good.replace("*SPRINGFIELD*IL*62704", "*SPRINGFIELD*QQ*62704", 1).replace(
        "SE*", "SE*9", 1
    )
    fresh = [validate_x12(text, cache_maps=False) for text in (good, bad, good)]
    cached = [validate_x12(text) for text in (good, bad, good, bad)]
    assert fresh == cached[:3]
    assert cached[3] == cached[1]
    assert len(cached[1]) == 2


def test_free_text_is_cleaned_not_rejected() -> None:
    base = s.sample_claim(2, dependent_patient=False)
    nasty = dataclasses.replace(
        base.subscriber,
        name=PersonName("O'Brien*~Núñez", "ma:ry^ann" + "x" * 60),
        address=Address("1 Elm St ~ #4", "Zürich*town", "il", "62704-0001"),
    )
    x12 = build(dataclasses.replace(base, subscriber=nasty))
    assert_valid(x12)
    nm1 = next(n for n in segs(x12, "NM1") if n[1] == "IL")
    assert nm1[3] == "O'BRIEN NUNEZ"
    assert nm1[4] == ("MA RY ANN" + "X" * 60)[:35]
    assert ["N3", "1 ELM ST #4"] in segs(x12, "N3")
    assert ["N4", "ZURICH TOWN", "IL", "627040001"] in segs(x12, "N4")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda c: dataclasses.replace(c, patient_control_number="PC*1"), "patient_control_number"),
        (
            lambda c: dataclasses.replace(c, patient_control_number="P" * 21),
            "patient_control_number",
        ),
        (
            lambda c: dataclasses.replace(
                c, subscriber=dataclasses.replace(c.subscriber, member_id="M~1")
            ),
            "subscriber.member_id",
        ),
        (lambda c: dataclasses.replace(c, total_charge=c.total_charge + 1), "total_charge"),
        (lambda c: dataclasses.replace(c, place_of_service="1"), "place_of_service"),
        (lambda c: dataclasses.replace(c, frequency_code="2"), "frequency_code"),
        (lambda c: dataclasses.replace(c, diagnoses=("NOTACODE",)), "diagnoses[1]"),
        (
            lambda c: dataclasses.replace(
                c, lines=(dataclasses.replace(c.lines[0], diagnosis_pointers=(5,)),)
            ),
            "diagnosis_pointers",
        ),
        (
            lambda c: dataclasses.replace(
                c, lines=(dataclasses.replace(c.lines[0], line_control_number="A:B"),)
            ),
            "line_control_number",
        ),
        (
            lambda c: dataclasses.replace(
                c, lines=(dataclasses.replace(c.lines[0], units=Decimal(0)),)
            ),
            "units",
        ),
    ],
)
def test_bad_identifiers_are_refused_naming_the_field(change, field) -> None:  # type: ignore[no-untyped-def]
    base = s.sample_claim(6, lines=1, diagnoses=2)
    base = dataclasses.replace(base, total_charge=base.lines[0].charge)
    with pytest.raises(X12DataError) as info:
        build(change(base))
    assert field in info.value.field


def test_control_numbers_are_checked() -> None:
    claim = s.sample_claim(1)
    with pytest.raises(X12DataError, match=r"interchange\.control_number"):
        build_837p(s.interchange(1_000_000_000), [s.group((claim,))])
    other = s.sample_claim(2)
    with pytest.raises(X12DataError, match="used twice"):
        build_837p(s.interchange(1), [s.group((claim,)), s.group((other,))])
    with pytest.raises(X12DataError, match="appears twice in the interchange"):
        build_837p(s.interchange(1), [s.group((claim,)), s.group((claim,), control=2)])


def test_a_transaction_set_holds_at_most_5000_claims() -> None:
    claim = s.sample_claim(1)
    many = tuple(dataclasses.replace(claim, patient_control_number=f"PC{n}") for n in range(5001))
    with pytest.raises(X12DataError, match="split the batch"):
        build_837p(s.interchange(1), [s.group(many)])
    assert build_837p(s.interchange(1), [s.group(many[:5000])]).count("CLM*") == 5000


def test_amounts() -> None:
    assert amount(Decimal("100.00")) == "100"
    assert amount(Decimal("12.50")) == "12.5"
    with pytest.raises(X12DataError, match="cents"):
        amount(Decimal("0.005"))
    assert amount(Decimal("-3.10")) == "-3.1"
    assert amount(Decimal("-0.00")) == "0"
    assert amount(Decimal("1E+2")) == "100"
    with pytest.raises(X12DataError):
        amount(Decimal("NaN"))


def test_segment_view_names_loops_and_finds_one_claim() -> None:
    claims = (s.sample_claim(1, dependent_patient=True), s.sample_claim(2, dependent_patient=False))
    x12 = build(*claims)
    rows = format_segments(x12)
    assert len(rows) == len(parse_segments(x12))
    assert rows[0][0] == "Interchange header"
    assert ("2300 Claim", "*".join(segs(x12, "CLM")[0])) in rows
    assert ("2000C Patient level", "PAT*19") in rows
    one = claim_segments(x12, "PC00000002")
    assert one[0][1].startswith("HL*")
    assert one[0][1].split("*")[3] == "22"
    assert sum(1 for _, t in one if t.startswith("CLM*")) == 1
    assert all("PC00000001" not in t for _, t in one)
    dep = claim_segments(x12, "pc00000001")
    assert [t.split("*")[3] for _, t in dep if t.startswith("HL*")] == ["22", "23"]
    assert claim_segments(x12, "NOPE") == []
    with pytest.raises(ValueError, match="ISA"):
        format_segments("GS*HC~")


def test_segment_view_reads_other_delimiters() -> None:
    x12 = build(s.sample_claim(3))
    other = x12.replace("*", "|").replace("~", "!").replace("|:!\n", "|>!\n")
    other = other.replace("HC:", "HC>").replace("ABK:", "ABK>").replace("ABF:", "ABF>")
    other = other.replace("11:B:1", "11>B>1")
    assert [t for _, t in format_segments(other)][1:] == [t for _, t in format_segments(x12)][1:]


names = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=80
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(last=names, first=names, street=names)
def test_any_free_text_still_validates(last: str, first: str, street: str) -> None:
    base = s.sample_claim(2, dependent_patient=False, lines=1, diagnoses=1)
    sub = dataclasses.replace(
        base.subscriber,
        name=PersonName(last or "X", first),
        address=dataclasses.replace(base.subscriber.address, line1=street or "1 Main"),
    )
    claim = dataclasses.replace(base, subscriber=sub)
    if not clean_text(last or "X", 60) or not clean_text(street or "1 Main", 55):
        # text that cleans to nothing is refused, naming the field
        with pytest.raises(X12DataError, match=r"\.(last|line1): is required"):
            build(claim)
        return
    assert_valid(build(claim))


def test_service_dates_default_to_the_claim_date() -> None:
    base = s.sample_claim(1, lines=2, diagnoses=2)
    lines = tuple(dataclasses.replace(line, service_date=None) for line in base.lines)
    lines = (lines[0], dataclasses.replace(lines[1], service_date=dt.date(2026, 11, 30)))
    x12 = build(dataclasses.replace(base, lines=lines))
    assert_valid(x12)
    assert [d[3] for d in segs(x12, "DTP")] == [base.service_date.strftime("%Y%m%d"), "20261130"]


def test_claim_data_is_frozen() -> None:
    line = s.sample_claim(1).lines[0]
    assert isinstance(line, ServiceLine)
    with pytest.raises(dataclasses.FrozenInstanceError):
        line.charge = Decimal(1)  # type: ignore[misc]


def test_longest_allowed_values_validate() -> None:
    """The writer's length limits agree with the guide's (pyx12's map): the longest values
    the writer accepts validate, one character more is refused by the writer."""
    base = s.sample_claim(2, dependent_patient=False, lines=1, diagnoses=1)
    line = dataclasses.replace(base.lines[0], line_control_number="L" * 50)
    sub = dataclasses.replace(
        base.subscriber,
        member_id="M" * 80,
        group_number="G" * 50,
        name=PersonName("A" * 70, "B" * 40, "C" * 30, "JR"),
        address=Address("1" * 60, "C" * 40, "IL", "627040001", "2" * 60),
    )
    claim = dataclasses.replace(
        base,
        patient_control_number="P" * 20,
        prior_authorization="A" * 50,
        subscriber=sub,
        lines=(line,),
    )
    x12 = build(claim)
    assert_valid(x12)
    nm1 = next(n for n in segs(x12, "NM1") if n[1] == "IL")
    assert [len(v) for v in nm1[3:6]] == [60, 35, 25]
    for change in (
        {"patient_control_number": "P" * 21},
        {"prior_authorization": "A" * 51},
        {"subscriber": dataclasses.replace(sub, member_id="M" * 81)},
        {"lines": (dataclasses.replace(line, line_control_number="L" * 51),)},
    ):
        with pytest.raises(X12DataError, match="characters"):
            build(dataclasses.replace(claim, **change))  # type: ignore[arg-type]


def test_other_shapes_validate() -> None:
    """Optional parts left out or in: no pay-to, a person as billing provider, an e-mail only
    contact, a line with its own place of service and minutes, a dependant whose subscriber
    has no address or birth date on file."""
    base = s.sample_claim(3, dependent_patient=True, lines=2, diagnoses=2)
    sub = dataclasses.replace(base.subscriber, address=None, birth_date=None, group_number="")
    sub = dataclasses.replace(sub, group_name="Acme Staff Plan")
    lines = (
        base.lines[0],
        dataclasses.replace(
            base.lines[1], place_of_service="02", unit_basis="MJ", units=Decimal(30)
        ),
    )
    claim = dataclasses.replace(base, subscriber=sub, lines=lines)
    group = dataclasses.replace(
        s.group((claim,)),
        billing_provider=dataclasses.replace(
            s.BILLING, pay_to_address=None, is_person=True, name="Okafor", first_name="Ada"
        ),
    )
    interchange = dataclasses.replace(
        s.interchange(5, usage="P"),
        submitter=dataclasses.replace(s.SUBMITTER, contact_phone="", contact_email="x@clinic.test"),
    )
    x12 = build_837p(interchange, [group])
    assert_valid(x12)
    assert not [n for n in segs(x12, "NM1") if n[1] == "87"]
    assert ["NM1", "85", "1", "OKAFOR", "ADA", "", "", "", "XX", s.BILLING_NPI] in segs(x12, "NM1")
    assert segs(x12, "PER") == [["PER", "IC", "BILLING OFFICE", "EM", "X@CLINIC.TEST"]]
    assert segs(x12, "SBR")[0][3:5] == ["", "ACME STAFF PLAN"]
    assert segs(x12, "SV1")[1][3:6] == ["MJ", "30", "02"]
    assert segs(x12, "ISA")[0][15] == "P"
    assert len(segs(x12, "DMG")) == 1  # the patient's only
    with pytest.raises(X12DataError, match=r"subscriber\.address"):
        build(dataclasses.replace(claim, patient=None))


@st.composite
def random_claims(draw: st.DrawFn, n: int) -> Claim:
    """A claim of random shape: 1-12 diagnoses, 1-50 lines, 0-4 modifiers a line, random
    pointers, charges, fractional units, place of service, frequency, dependant or not."""
    n_dx = draw(st.integers(1, 12))
    base = s.sample_claim(n, diagnoses=n_dx, lines=1, dependent_patient=draw(st.booleans()))
    n_lines = draw(st.integers(1, 50))
    modifiers = st.sampled_from(["25", "59", "GT", "95", "XU", "LT", "RT", "26", "TC", "QW"])
    lines = []
    for i in range(n_lines):
        order = draw(st.permutations(list(range(1, n_dx + 1))))
        lines.append(
            ServiceLine(
                procedure_code=draw(st.sampled_from(s.PROCEDURES)),
                charge=draw(st.decimals(min_value=0, max_value=Decimal("99999.99"), places=2)),
                units=draw(st.decimals(min_value=Decimal("0.1"), max_value=Decimal(999), places=1)),
                diagnosis_pointers=tuple(order[: draw(st.integers(1, min(4, n_dx)))]),
                line_control_number=f"{n}.{i}",
                modifiers=tuple(draw(st.lists(modifiers, max_size=4, unique=True))),
            )
        )
    frequency = draw(st.sampled_from("178"))
    return dataclasses.replace(
        base,
        lines=tuple(lines),
        total_charge=sum((line.charge for line in lines), Decimal(0)),
        place_of_service=draw(st.sampled_from(["11", "02", "10", "22", "12", "20"])),
        frequency_code=frequency,
        original_claim_reference="" if frequency == "1" else f"ICN{n}",
    )


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    groups=st.integers(1, 3),
    controls=st.sets(st.integers(1, 999_999_999), min_size=4, max_size=4),
)
def test_random_claim_shapes_validate(data: st.DataObject, groups: int, controls: set[int]) -> None:
    isa13, *group_controls = sorted(controls)
    built = []
    for g in range(groups):
        count = data.draw(st.integers(1, 3))
        claims = tuple(data.draw(random_claims(g * 10 + k)) for k in range(count))
        built.append(s.group(claims, payer=s.PAYERS[g], control=group_controls[g]))
    x12 = build_837p(s.interchange(isa13), built)
    assert_valid(x12)
    rows = parse_segments(x12)
    assert rows[0][13] == f"{isa13:09d}"
    assert [r[6] for r in rows if r[0] == "GS"] == [str(c) for c in group_controls[:groups]]


@pytest.mark.parametrize(
    ("phone", "written"),
    [("(555) 555-1234", "5555551234"), ("+1 555.555.1234", "5555551234"), ("555-1234", None)],
)
def test_submitter_phone(phone: str, written: str | None) -> None:
    interchange = dataclasses.replace(
        s.interchange(), submitter=dataclasses.replace(s.SUBMITTER, contact_phone=phone)
    )
    if written is None:
        with pytest.raises(X12DataError, match="contact_phone"):
            build_837p(interchange, [s.group((s.sample_claim(1),))])
        return
    x12 = build_837p(interchange, [s.group((s.sample_claim(1),))])
    assert segs(x12, "PER")[0][3:5] == ["TE", written]


def test_validations_in_threads_keep_their_findings_apart() -> None:
    """The export may validate in several workers' threads at once: the shared map cache and
    the log capture must not mix one file's findings into another's."""
    from concurrent.futures import ThreadPoolExecutor

    good = build(s.sample_claim(1), s.sample_claim(2))
    bad = good.replace("SE*", "SE*9", 1)
    texts = [good, bad, "not X12 at all", good, bad, good] * 3
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(validate_x12, texts))
    for text, issues in zip(texts, results, strict=True):
        if text == good:
            assert issues == []
        elif text == bad:
            assert [i.segment for i in issues] == ["ST"]
        else:
            assert issues
            assert all(i.segment == "" for i in issues)


def test_claim_segments_reads_around_the_claim_like_the_whole_file() -> None:
    from revenue.x12.segments import _claim_segments_whole

    claims = [s.sample_claim(n) for n in range(24)] + [s.secondary_claim(30)]
    x12 = build(*claims)
    for claim in claims:
        pcn = claim.patient_control_number
        fast = claim_segments(x12, pcn)
        assert fast == _claim_segments_whole(x12, pcn)
        assert sum(1 for _, t in fast if t.startswith("CLM*")) == 1
        assert fast[-1][1].startswith(("REF*6R", "DTP*573"))  # ends with its last line


def test_claim_segments_with_claims_sharing_a_subscriber() -> None:
    """Files from elsewhere may put several claims under one subscriber HL: each claim gets
    that level and only its own CLM, whether the HL is near (read around) or far (whole file)."""
    from revenue.x12.segments import _claim_segments_whole

    first = s.sample_claim(2, dependent_patient=False, lines=1, diagnoses=1)
    x12 = build(first)
    head, clm_and_rest = x12.split("CLM*", 1)
    claim_part, tail = clm_and_rest.split("SE*", 1)
    extra = [
        ("CLM*" + claim_part).replace(first.patient_control_number, f"PCX{k}") for k in range(12)
    ]
    shared = head + "CLM*" + claim_part + "".join(extra) + "SE*" + tail
    for pcn in (first.patient_control_number, "PCX0", "PCX11"):
        rows = claim_segments(shared, pcn)
        assert rows == _claim_segments_whole(shared, pcn)
        assert rows[0][1].startswith("HL*2*1*22")
        assert [t.split("*")[1] for _, t in rows if t.startswith("CLM*")] == [pcn]


@settings(max_examples=200, deadline=None)
@given(
    body=st.text(alphabet=st.sampled_from("ISAHLCMEG*~:^|!>\n0123 22"), max_size=400),
    pcn=st.text(alphabet="PC0123*~", max_size=6),
)
def test_segment_view_never_crashes_on_odd_text(body: str, pcn: str) -> None:
    """The view reads stored files, but must not fail on any text: an answer or ValueError."""
    header = build(s.sample_claim(1))[:106]
    for text in (header + body, body, "ISA" + (body * 3).ljust(110, "~")):
        try:
            rows = format_segments(text)
        except ValueError:
            continue
        assert all(isinstance(loop, str) and isinstance(seg, str) for loop, seg in rows)
        claim_segments(text, pcn or "PC")
