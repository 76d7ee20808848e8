"""Benchmark: post an 835 remittance of 5,000 claims.

Uses the database of bench/revenue_export.py (clinicops_bench_revenue, created and seeded by
it when missing: one clinic's 5,000 scrubbed claims, 12,500 lines, three payers). It writes one
835 answering every claim (most paid with a contractual adjustment and a patient share, one in
seven denied on a line, one in fifty not ours, a PLB), then, each the median of --runs runs:

1. the floor: `reader_835.read_835` + `balance_problems` on the text (the plain parse);
2. `remittances.import_835` with pyx12 stubbed out: everything the biller's upload does after
   pyx12 (sniff, read, balance, de-dup row, match, ledger rows, denials, exceptions, claim
   totals and statuses with their events, the audit entries), inside a transaction rolled back
   after each run (the claims are marked submitted inside it, so every run posts all);

then, once and separately, pyx12's validation of the file. Target (issue 14): posting under
15 s; exits non-zero when it misses it or pyx12 finds an error.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/clinicops \\
        .venv/bin/python bench/remit_835.py [--claims 5000] [--runs 3] [--no-validate]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import revenue_export as base

TARGET_SECONDS = 15.0
CENT = Decimal("0.01")


def build_remit(clinic: Any) -> tuple[str, int]:
    from revenue.models import BillingProfile, Claim
    from revenue.x12.writer_835 import Cas, Plb, Remit, RemitClaim, RemitLine, build_835

    profile = BillingProfile.objects.get(clinic=clinic)
    claims = list(Claim.objects.filter(clinic=clinic).prefetch_related("lines").order_by("pk"))
    out = []
    for n, claim in enumerate(claims):
        lines = []
        for k, line in enumerate(claim.lines.all()):
            if n % 7 == 3 and k == 0:
                lines.append(
                    RemitLine(line.procedure_code, line.charge, Decimal("0"),
                              (Cas("CO", ("197", "16", "97", "50")[n % 4], line.charge),),
                              line_id=line.line_id)
                )  # fmt: skip
                continue
            allowed = (line.charge * Decimal("0.7")).quantize(CENT)
            share = (allowed * Decimal("0.2")).quantize(CENT) if k == 0 else Decimal("0")
            adjustments = [Cas("CO", "45", line.charge - allowed)]
            if share:
                adjustments.append(Cas("PR", "2", share))
            lines.append(
                RemitLine(line.procedure_code, line.charge, allowed - share, tuple(adjustments),
                          line_id=line.line_id)
            )  # fmt: skip
        paid = sum((x.paid for x in lines), Decimal("0"))
        patient = sum(
            (a.amount for x in lines for a in x.adjustments if a.group == "PR"), Decimal(0)
        )
        number = claim.control_number if n % 50 != 11 else f"X{n:09d}"
        out.append(RemitClaim(number, "1", claim.total_charge, paid, patient, lines=tuple(lines),
                              payer_claim_number=f"P{n:08d}"))  # fmt: skip
    remit = Remit(
        trace_number="BENCH835",
        payee_npi=profile.group_npi,
        claims=out,
        plb=[Plb("WO", "BENCH", Decimal("10.00"))],
    )
    return build_835(remit), len(claims)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--claims", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-validate", action="store_true")
    args = parser.parse_args()
    url, fresh = base.prepare_database(
        os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/clinicops"),
        recreate=False,
    )
    base.setup_django(url)
    t0 = time.perf_counter()
    clinic = base.seed(args.claims)
    seeded = time.perf_counter() - t0

    from django.db import transaction

    import revenue.x12.validate as validate_module
    from revenue.models import Claim, ClaimStatus, Remittance
    from revenue.services import remittances
    from revenue.x12 import reader_835

    text, n_claims = build_remit(clinic)

    def parse() -> int:
        remit = reader_835.read_835(text)
        if reader_835.balance_problems(remit):
            raise SystemExit("the benchmark's own 835 does not balance")
        return len(remit.claims)

    class Rollback(Exception):
        pass

    def post() -> Any:
        real = validate_module.validate_x12
        validate_module.validate_x12 = lambda _text, **_kw: []  # type: ignore[assignment]
        try:
            with transaction.atomic():
                Claim.objects.filter(clinic=clinic).update(status=ClaimStatus.SUBMITTED)
                result = remittances.import_835(actor="bench", content=text, clinic=clinic)
                raise Rollback(result)
        except Rollback as done:
            return done.args[0]
        finally:
            validate_module.validate_x12 = real

    parse_s, parse_cpu, _ = base.median_time(parse, args.runs)
    post_s, post_cpu, result = base.median_time(post, args.runs)
    if Remittance.objects.exists():
        raise SystemExit("a remittance was left behind: the rollback did not happen")
    print(f"## remit_835: an 835 of {n_claims:,} claims ({len(text):,} bytes)")
    print(
        f"(database seeded in {seeded:.1f} s{' (new)' if fresh else ''}; median of {args.runs})\n"
    )
    print("| step | median s | CPU s | claims/s | vs floor |")
    print("|---|--:|--:|--:|--:|")
    print(f"| floor: read_835 + balance (plain parse) | {parse_s:.2f} | {parse_cpu:.2f} | "
          f"{n_claims / parse_s:,.0f} | 1x |")  # fmt: skip
    print(f"| import_835 without pyx12 (rolled back) | {post_s:.2f} | {post_cpu:.2f} | "
          f"{n_claims / post_s:,.0f} | {post_s / parse_s:.0f}x |")  # fmt: skip
    print(f"\nposted: {result.summary()}")
    failed = post_s >= TARGET_SECONDS
    if not args.no_validate:
        w0 = time.perf_counter()
        issues = validate_module.validate_x12(text)
        print(f"pyx12 validation (once, separate): {time.perf_counter() - w0:.1f} s, "
              f"{len(issues)} errors")  # fmt: skip
        for issue in issues[:10]:
            print(f"  {issue}")
        failed = failed or bool(issues)
    if post_s >= TARGET_SECONDS:
        print(f"\nFAIL: posting took {post_s:.1f} s, target < {TARGET_SECONDS:.0f} s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
