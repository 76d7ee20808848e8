"""X12 837P (005010X222A1) out and 835 (005010X221A1) in: plain dataclasses, no Django.

`claim_data` describes a claim file, `writer_837p.build_837p` writes it, `validate.validate_x12`
runs pyx12 on any X12 file, `segments.format_segments` lists a file's segments with their
loops for the claim page; `reader_835` sniffs, reads and balances a remittance, and
`writer_835` writes one (tests, demo data, benchmark).
"""
