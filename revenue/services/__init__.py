"""The writes of the revenue cycle, one module a job: `charges` (coding a visit), `claims`
(building, the status machine, corrected and void claims), `scrubber` (the front-end edits, a
pure check), `export` (837P batches) and `fees` (fee schedules in force). Each write runs in
one transaction with its audit entry recorded last inside it.
"""

from __future__ import annotations

from .common import RevenueError

__all__ = ["RevenueError"]
