"""X12 837P (005010X222A1) out: plain dataclasses in, an X12 string out, checked by pyx12.

No Django here: `claim_data` describes a claim file, `writer_837p.build_837p` writes it,
`validate.validate_x12` runs pyx12 on it, `segments.format_segments` lists its segments with
their loops for the claim page.
"""
