"""Read an 837P back: split it into segments, name each segment's loop, pick out one claim.

For the claim page's "837 segment view" and for tests. The delimiters are read from the ISA
segment (element separator at position 3, component separator ISA16, the segment terminator
right after it), so any 837P is read, not only ours. Loop names follow the 005010X222A1 guide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LOOP_NAMES = {
    "ISA": "Interchange header",
    "GS": "Functional group header",
    "HEADER": "Transaction set header",
    "1000A": "1000A Submitter",
    "1000B": "1000B Receiver",
    "2000A": "2000A Billing provider level",
    "2010AA": "2010AA Billing provider",
    "2010AB": "2010AB Pay-to address",
    "2010AC": "2010AC Pay-to plan",
    "2000B": "2000B Subscriber level",
    "2010BA": "2010BA Subscriber",
    "2010BB": "2010BB Payer",
    "2000C": "2000C Patient level",
    "2010CA": "2010CA Patient",
    "2300": "2300 Claim",
    "2310A": "2310A Referring provider",
    "2310B": "2310B Rendering provider",
    "2310C": "2310C Service facility",
    "2310D": "2310D Supervising provider",
    "2310E": "2310E Ambulance pick-up",
    "2310F": "2310F Ambulance drop-off",
    "2320": "2320 Other subscriber",
    "2330A": "2330A Other subscriber name",
    "2330B": "2330B Other payer",
    "2330C": "2330C Other payer referring provider",
    "2330D": "2330D Other payer rendering provider",
    "2330E": "2330E Other payer service facility",
    "2330F": "2330F Other payer supervising provider",
    "2330G": "2330G Other payer billing provider",
    "2400": "2400 Service line",
    "2410": "2410 Drug identification",
    "2420A": "2420A Line rendering provider",
    "2420B": "2420B Line purchased service provider",
    "2420C": "2420C Line service facility",
    "2420D": "2420D Line supervising provider",
    "2420E": "2420E Line ordering provider",
    "2420F": "2420F Line referring provider",
    "2420G": "2420G Line ambulance pick-up",
    "2420H": "2420H Line ambulance drop-off",
    "2430": "2430 Line adjudication",
    "2440": "2440 Form identification",
    "SE": "Transaction set trailer",
    "GE": "Functional group trailer",
    "IEA": "Interchange trailer",
}

# NM101 entity codes that open a loop, by the level they appear at.
_NM1_2010A = {"85": "2010AA", "87": "2010AB", "PE": "2010AC"}
_NM1_2310 = {"DN": "2310A", "P3": "2310A", "82": "2310B", "77": "2310C", "DQ": "2310D"}
_NM1_2310 |= {"PW": "2310E", "45": "2310F"}
_NM1_2330 = {"IL": "2330A", "PR": "2330B", "DN": "2330C", "P3": "2330C", "82": "2330D"}
_NM1_2330 |= {"77": "2330E", "DQ": "2330F", "85": "2330G"}
_NM1_2420 = {"82": "2420A", "QB": "2420B", "77": "2420C", "DQ": "2420D", "DK": "2420E"}
_NM1_2420 |= {"DN": "2420F", "P3": "2420F", "PW": "2420G", "45": "2420H"}


@dataclass(frozen=True)
class Delimiters:
    element: str
    component: str
    segment: str
    repetition: str


def delimiters(x12: str) -> Delimiters:
    """The separators an interchange declares in its ISA segment."""
    text = x12.lstrip()
    if not text.startswith("ISA") or len(text) < 106:
        raise ValueError("not an X12 interchange: it does not start with a full ISA segment")
    return Delimiters(element=text[3], component=text[104], segment=text[105], repetition=text[82])


def split_segments(x12: str) -> list[str]:
    """The segments of an interchange as strings, without terminators or line breaks."""
    text = x12.strip()
    term = delimiters(text).segment
    return [s.strip("\r\n") for s in text.split(term) if s.strip("\r\n")]


def parse_segments(x12: str) -> list[list[str]]:
    """Each segment split into its elements (element 0 is the segment id)."""
    sep = delimiters(x12).element
    return [s.split(sep) for s in split_segments(x12)]


def _loop_of(elements: list[str], loop: str) -> str:
    """The loop a segment belongs to, given the loop of the segment before it."""
    sid = elements[0]
    first = elements[1] if len(elements) > 1 else ""
    fixed = {"ISA": "ISA", "GS": "GS", "ST": "HEADER", "SE": "SE", "GE": "GE", "IEA": "IEA"}
    if sid in fixed:
        return fixed[sid]
    if sid == "HL":
        level = elements[3] if len(elements) > 3 else ""
        return {"20": "2000A", "22": "2000B", "23": "2000C"}.get(level, loop)
    if sid == "CLM":
        return "2300"
    if sid == "LX":
        return "2400"
    if sid == "LIN":
        return "2410"
    if sid == "SVD":
        return "2430"
    if sid == "LQ":
        return "2440"
    if sid == "SBR" and loop != "2000B":
        # Right after a subscriber HL, SBR is that level's; anywhere else it opens a 2320.
        return "2320"
    if sid == "NM1":
        if first == "41":
            return "1000A"
        if first == "40":
            return "1000B"
        if loop.startswith(("2000A", "2010A")):
            return _NM1_2010A.get(first, loop)
        if loop.startswith(("2000B", "2010B")):
            return {"IL": "2010BA", "PR": "2010BB"}.get(first, loop)
        if loop.startswith(("2000C", "2010C")):
            return "2010CA" if first == "QC" else loop
        if loop.startswith(("2300", "2310")):
            return _NM1_2310.get(first, loop)
        if loop.startswith(("2320", "2330")):
            return _NM1_2330.get(first, loop)
        if loop.startswith(("2400", "2410", "2420")):
            return _NM1_2420.get(first, loop)
    return loop


def _named(raws: list[str], delims: Delimiters, loop: str) -> list[tuple[str, str]]:
    """Name the loop of each raw segment, `loop` being the loop before the first."""
    out: list[tuple[str, str]] = []
    for raw in raws:
        elements = raw.split(delims.element)
        loop = _loop_of(elements, loop)
        shown = raw if delims.element == "*" else "*".join(elements)
        if delims.component != ":" and elements[0] != "ISA":
            shown = shown.replace(delims.component, ":")
        out.append((LOOP_NAMES.get(loop, loop), shown))
    return out


def format_segments(x12: str) -> list[tuple[str, str]]:
    """Every segment with the name of its loop, in file order: [("2300 Claim", "CLM*..."), ...].

    Segment text is shown with "*" and ":" whatever delimiters the file uses, without the
    terminator. Raises ValueError when the text is not an X12 interchange.
    """
    return _named(split_segments(x12), delimiters(x12), "ISA")


# Segments a subscriber level (2000B, 2010BA/BB, 2000C, 2010CA) can hold before its CLM.
_LEVEL_SEGMENTS_MAX = 40


def claim_segments(x12: str, patient_control_number: str) -> list[tuple[str, str]]:
    """The segments of one claim (found by CLM01) with their loops: its subscriber level
    (2000B, and 2000C when present) and everything under its CLM, up to the next HL, CLM or SE.

    Empty when the file holds no claim with that number. Reads only around the claim, so it
    stays fast in a file of thousands of claims (the claim page calls it on a stored batch).
    """
    delims = delimiters(x12)
    el, term = re.escape(delims.element), re.escape(delims.segment)
    want = re.escape(patient_control_number.strip().upper())
    found = re.search(rf"{term}[\r\n]*(CLM{el}{want}{el})", x12)
    if found is None:
        return []
    clm = found.start(1)
    # Backwards: the last subscriber HL (level 22) among the segments just before the CLM, and
    # that level's segments up to its first claim.
    head = x12[:clm].rsplit(delims.segment, _LEVEL_SEGMENTS_MAX)[1:]
    before = [raw.strip("\r\n") for raw in head if raw.strip("\r\n")]
    start = next(
        (i for i in range(len(before) - 1, -1, -1) if _is_subscriber_hl(before[i], delims)), None
    )
    if start is None:  # further back (a subscriber with many claims): read the whole file
        return _claim_segments_whole(x12, patient_control_number)
    level: list[str] = []
    for raw in before[start:]:
        if raw.split(delims.element, 1)[0] == "CLM":
            break
        level.append(raw)
    # Forwards: the claim's own segments, up to the next HL, CLM or SE.
    body: list[str] = []
    pos = clm
    while pos < len(x12):
        end = x12.find(delims.segment, pos)
        raw = x12[pos : end if end >= 0 else len(x12)].strip("\r\n")
        sid = raw.split(delims.element, 1)[0]
        if body and sid in ("HL", "CLM", "SE"):
            break
        if raw:
            body.append(raw)
        if end < 0:
            break
        pos = end + 1
    return _named(level + body, delims, "2000B")


def _is_subscriber_hl(raw: str, delims: Delimiters) -> bool:
    elements = raw.split(delims.element)
    return elements[0] == "HL" and elements[3:4] == ["22"]


def _claim_segments_whole(x12: str, patient_control_number: str) -> list[tuple[str, str]]:
    """claim_segments by naming every segment of the file first (slow; any layout)."""
    rows = format_segments(x12)
    want = patient_control_number.strip().upper()
    for i, (_, text) in enumerate(rows):
        parts = text.split("*")
        if parts[0] != "CLM" or len(parts) < 2 or parts[1] != want:
            continue
        start = i
        while start > 0 and not (
            rows[start][1].startswith("HL*") and rows[start][1].split("*")[3:4] == ["22"]
        ):
            start -= 1
        level_end = start
        while level_end < i and not rows[level_end][1].startswith("CLM*"):
            level_end += 1
        end = i + 1
        while end < len(rows) and not rows[end][1].startswith(("HL*", "SE*", "CLM*")):
            end += 1
        return rows[start:level_end] + rows[i:end]
    return []
