"""The verbs of the supply room, one module a job: `usage` (log use, undo, found stock),
`transfers`, `orders` (purchase orders and receiving), `counts`, `waste`, `levels`, `nightly`;
`ledger` holds what they share.

Each public function is one transaction and writes the stock ledger (`StockMovement`) in the same
transaction as the on-hand change it explains, so the two cannot disagree.

Locking, the same everywhere so two services can never deadlock each other:
1. a document row first, when there is one (purchase order, count session, submission);
2. then `LocationItem` rows in ascending id order (`ledger.lock_location_items`);
3. `LotStock` rows only while holding their location-item's lock, so every lot change of a
   location-item is serialised by that one row.
The nurse's hot path (`usage.log_usage`) takes step 2 as a conditional UPDATE
(`on_hand = on_hand - q WHERE on_hand >= q`) that locks, checks, decrements and, in the same
statement, writes the ledger line, so the contended row is held only from that statement to
COMMIT; the CHECK constraint `on_hand >= 0` is the backstop.

Callers import the module that does the job (`from supplies.services import usage`). The one
thing re-exported here is the family of errors every service raises, so a caller catches
`services.SupplyError` whichever job it called.
"""

from __future__ import annotations

from .ledger import InsufficientStock, SupplyError, UndoRefused

__all__ = ["InsufficientStock", "SupplyError", "UndoRefused"]
