"""Benchmark: write 5,000 claims as one X12 837P interchange, and validate it with pyx12.

Pure Python, no database: the claims are `revenue.x12.claim_data` dataclasses made by
`revenue.x12.samples` (varied: 1-12 diagnoses, 1-6 lines, modifiers, dependants, every 20th a
secondary claim with 2320/2330/2430 loops), split over three payers (three GS groups).

Measured, each as the median of --runs runs:
1. making the dataclasses (what the export does after its queries);
2. `build_837p` (cleaning, checks, segments, envelopes, the final string);
3. the floor: "~\\n".join of the same number of segment strings built beforehand, i.e. only
   the cost of making the final string; the ratio build / floor is what the writer adds.
Then, once, pyx12's validation of the file (reported separately: it is a check, not part of the
export) and the number of errors it found, which must be zero.

Target (issue 13): build and export 5,000 claims in under 10 s; exits non-zero when the build
misses it or pyx12 finds an error.

    .venv/bin/python bench/claims_837.py [--claims 5000] [--runs 5] [--no-validate]

`make_groups(n)` and `time_build(interchange, groups, runs)` are importable, so a database
version of this benchmark can time its own part and reuse this one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from revenue.x12 import samples
from revenue.x12.claim_data import ClaimGroup, Interchange
from revenue.x12.writer_837p import SEGMENT_END, build_837p, interchange_segments

TARGET_SECONDS = 10.0


def make_groups(n_claims: int) -> list[ClaimGroup]:
    """n_claims sample claims, one group per payer (claim i goes to payer i % 3)."""
    per_payer: dict[int, list[Any]] = {i: [] for i in range(len(samples.PAYERS))}
    for n in range(n_claims):
        k = n % len(samples.PAYERS)
        if n % 20 == 19:
            per_payer[1].append(samples.secondary_claim(n))
        else:
            per_payer[k].append(samples.sample_claim(n, payer=samples.PAYERS[k]))
    return [
        samples.group(tuple(claims), payer=samples.PAYERS[k], control=k + 1)
        for k, claims in per_payer.items()
        if claims
    ]


CPU: dict[str, float] = {}


def median_time[T](fn: Callable[[], T], runs: int, label: str = "") -> tuple[float, T]:
    """Median wall seconds of `runs` calls (and, under `label` in CPU, the median CPU seconds
    of the process: wall time alone misleads on a loaded machine)."""
    times, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    if label:
        CPU[label] = statistics.median(cpu)
    return statistics.median(times), result


def time_build(
    interchange: Interchange, groups: list[ClaimGroup], runs: int = 5
) -> tuple[float, str]:
    """Median seconds of build_837p over `runs`, and the file it wrote."""
    return median_time(lambda: build_837p(interchange, groups), runs, "build")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-validate", action="store_true", help="skip the pyx12 run")
    args = parser.parse_args()

    make_s, groups = median_time(lambda: make_groups(args.claims), args.runs, "make")
    interchange = samples.interchange(1)
    build_s, text = time_build(interchange, groups, args.runs)

    prebuilt = interchange_segments(interchange, groups)
    floor_s, floor_text = median_time(
        lambda: SEGMENT_END.join(prebuilt) + SEGMENT_END, max(args.runs, 20), "floor"
    )
    if floor_text != text:
        raise SystemExit("the floor must produce the same file as build_837p")

    lines = sum(len(c.lines) for g in groups for c in g.claims)
    print(
        f"837P: {args.claims:,} claims, {lines:,} service lines, {len(groups)} payers (GS groups)"
    )
    print(f"file: {len(prebuilt):,} segments, {len(text.encode()):,} bytes\n")
    print("| step | median s | CPU s | claims/s | vs floor |")
    print("|---|--:|--:|--:|--:|")
    print(
        f"| make the dataclasses | {make_s:.3f} | {CPU['make']:.3f} | "
        f"{args.claims / make_s:,.0f} | |"
    )
    print(
        f"| build_837p | {build_s:.3f} | {CPU['build']:.3f} | {args.claims / build_s:,.0f} | "
        f"{build_s / floor_s:,.0f}x |"
    )
    print(f"| floor: join pre-built segments | {floor_s:.4f} | {CPU['floor']:.4f} | | 1x |")

    failed = False
    if build_s >= TARGET_SECONDS:
        print(f"\nFAIL: build took {build_s:.1f} s, target < {TARGET_SECONDS:.0f} s")
        failed = True

    if not args.no_validate:
        from revenue.x12.validate import validate_x12

        validate_s, issues = median_time(lambda: validate_x12(text), 1, "validate")
        print(
            f"| pyx12 validation (once, separate) | {validate_s:.1f} | {CPU['validate']:.1f} | "
            f"{args.claims / validate_s:,.0f} | {validate_s / floor_s:,.0f}x |"
        )
        print(f"\npyx12 errors: {len(issues)}")
        for issue in issues[:20]:
            print(f"  {issue}")
        failed = failed or bool(issues)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
