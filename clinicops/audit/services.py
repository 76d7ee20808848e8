"""The scheduled chain check: verify, keep the anchor, alert the trail's readers once per break."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.core.mail import EmailMessage
from django.utils import timezone

from . import audit
from .audit import ChainAnchor, ChainVerification, Checkpoint, verify_chain
from .models import AuditEvent

logger = logging.getLogger(__name__)

# Kept in the cache (Redis), outside the database: the newest head verified intact, and the
# break already reported, so a retried or repeated check does not mail the officers twice.
# The keys keep the names they had when this lived in `compliance` (a running anchor survives).
ANCHOR_CACHE_KEY = "compliance:audit-chain:anchor"
REPORTED_CACHE_KEY = "compliance:audit-chain:reported-break"
# Who is mailed about a break: the active members of the groups that may read the trail (the
# Compliance officer role, clinicops.core.roles), found by permission so this app names no role.
READ_PERMISSION = ("audit", "view_auditevent")


def load_chain_anchor() -> ChainAnchor | None:
    """The newest (seq, hash) an earlier check found intact, if one was kept."""
    value = cache.get(ANCHOR_CACHE_KEY)
    if not isinstance(value, dict):
        return None
    return ChainAnchor(seq=int(value["seq"]), hash=str(value["hash"]))


def anchor_source() -> str:
    """How a break report names the anchor: when it was verified, as stored with it."""
    value = cache.get(ANCHOR_CACHE_KEY)
    when = value.get("verified_at") if isinstance(value, dict) else None
    return f"the anchor verified {when}" if when else "the anchor verified earlier"


def store_chain_anchor(result: ChainVerification) -> None:
    """Keep the verified head as the next check's anchor (never move it backwards)."""
    if result.broken is not None or result.head is None:
        return
    kept = load_chain_anchor()
    if kept is not None and kept.seq > result.head.seq:
        return
    cache.set(
        ANCHOR_CACHE_KEY,
        {
            "seq": result.head.seq,
            "hash": result.head.hash,
            "verified_at": timezone.now().isoformat(timespec="seconds"),
        },
        timeout=None,
    )


def check_audit_chain(
    *, use_anchor: bool = True, checkpoints: tuple[Checkpoint, ...] = (), notify: bool = True
) -> ChainVerification:
    """Verify the chain against the anchor and keep the new one; alert once per break.

    The hourly task and `manage.py verify_audit_chain` both run this, so both check and move
    the same anchor.
    """
    anchor = load_chain_anchor() if use_anchor else None
    result = verify_chain(anchor=anchor, anchor_source=anchor_source(), checkpoints=checkpoints)
    lag = result.unsealed_lag_seconds()
    if lag > seal_lag_limit():
        logger.error(
            "Audit sealer is behind: %d event(s) unsealed, the oldest for %.0f s",
            result.unsealed,
            lag,
        )
    if result.broken is None:
        if use_anchor:
            store_chain_anchor(result)
        cache.delete(REPORTED_CACHE_KEY)
        return result
    logger.error(
        "Audit chain broken at %s (%d events before it intact)",
        result.broken.describe(),
        result.checked,
    )
    if (
        notify
        and cache.get(REPORTED_CACHE_KEY) != result.broken.seq
        and _email_compliance_officers(result)
    ):
        cache.set(REPORTED_CACHE_KEY, result.broken.seq, timeout=None)
    return result


def seal_lag_limit() -> float:
    """Seconds an event may stay unsealed before the verifier calls the sealer stalled."""
    return float(getattr(settings, "AUDIT_SEAL_MAX_LAG_SECONDS", 120))


def _officer_emails() -> list[str]:
    return sorted(
        set(
            get_user_model()
            .objects.filter(
                groups__permissions__content_type__app_label=READ_PERMISSION[0],
                groups__permissions__codename=READ_PERMISSION[1],
                is_active=True,
            )
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )


def _email_compliance_officers(result: ChainVerification) -> bool:
    assert result.broken is not None  # noqa: S101 - only called for a break
    recipients = _officer_emails()
    if not recipients:
        logger.error("No active compliance officer has an email address to alert.")
        return False
    body = (
        f"The scheduled check of the ClinicOps audit trail found a break at "
        f"{result.broken.describe()}.\n\n"
        f"{result.checked} event(s) before it verified intact. Events from the break on can no "
        f"longer be trusted to be as they were recorded.\n\n"
        f"Re-run `manage.py verify_audit_chain` to confirm, preserve a copy of the database and "
        f"its logs, and open an incident. This message is sent once per break."
    )
    EmailMessage(
        subject=f"[ClinicOps] Audit trail integrity check failed at event #{result.broken.seq}",
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    ).send()
    return True


# ---- The external witness ------------------------------------------------------------------
# The chain head is published outside the database: a line appended to AUDIT_WITNESS_PATH (a
# file the operator makes append-only: `chattr +a`, WORM storage or a log shipper's spool) and,
# daily, an email to the compliance officers. Each line is signed (HMAC with the active audit
# key, under its own prefix), so a line cannot be forged without the key, and a rewrite of the
# chain by someone holding the database and the key changes the hash at a published `seq`,
# which `verify_audit_chain --witness` reports.

_WITNESS_PREFIX = b"clinicops-audit-witness|"


@dataclass(frozen=True)
class WitnessEntry:
    seq: int
    hash: str
    key_id: str
    published_at: str
    signature: str

    def payload(self) -> dict[str, object]:
        return {
            "seq": self.seq,
            "hash": self.hash,
            "key_id": self.key_id,
            "published_at": self.published_at,
        }

    def line(self) -> str:
        return json.dumps({**self.payload(), "signature": self.signature}, sort_keys=True)


def _witness_signature(payload: dict[str, object], key_id: str) -> str:
    key = audit.keyring().get(key_id)
    if key is None:
        return ""
    message = _WITNESS_PREFIX + json.dumps(payload, sort_keys=True).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


def witness_path() -> Path | None:
    path = getattr(settings, "AUDIT_WITNESS_PATH", "")
    return Path(path) if path else None


def publish_witness(*, email: bool = False) -> WitnessEntry | None:
    """Append the sealed head to the witness file (and email it); None on an empty chain."""
    head = (
        AuditEvent.objects.filter(seq__isnull=False).order_by("-seq").values("seq", "hash").first()
    )
    if head is None:
        return None
    key_id = audit.active_key_id()
    payload: dict[str, object] = {
        "seq": head["seq"],
        "hash": head["hash"],
        "key_id": key_id,
        "published_at": timezone.now().isoformat(timespec="seconds"),
    }
    entry = WitnessEntry(
        seq=int(head["seq"] or 0),
        hash=str(head["hash"]),
        key_id=key_id,
        published_at=str(payload["published_at"]),
        signature=_witness_signature(payload, key_id),
    )
    path = witness_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # "a": appended, never rewritten; the file itself should be append-only to this user.
        with path.open("a", encoding="utf-8") as handle:
            handle.write(entry.line() + "\n")
    if email:
        recipients = _officer_emails()
        if recipients:
            EmailMessage(
                subject=f"[ClinicOps] Audit trail head #{entry.seq} ({entry.published_at})",
                body=(
                    "The audit trail's head today, for your records. Keep this message: "
                    "`manage.py verify_audit_chain --witness` compares the chain with these "
                    "values, so a later rewrite of the trail shows.\n\n"
                    f"{entry.line()}\n"
                ),
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=recipients,
            ).send()
    return entry


@dataclass(frozen=True)
class WitnessReading:
    checkpoints: tuple[Checkpoint, ...]
    problems: tuple[str, ...]


def read_witness(path: Path) -> WitnessReading:
    """The signed heads published to `path`; a line that does not verify is a problem."""
    points: list[Checkpoint] = []
    problems: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
                entry = WitnessEntry(
                    seq=int(data["seq"]),
                    hash=str(data["hash"]),
                    key_id=str(data["key_id"]),
                    published_at=str(data["published_at"]),
                    signature=str(data["signature"]),
                )
            except (ValueError, KeyError, TypeError):
                problems.append(f"witness line {number} cannot be read")
                continue
            expected = _witness_signature(entry.payload(), entry.key_id)
            if not expected or not hmac.compare_digest(expected, entry.signature):
                problems.append(f"witness line {number} (#{entry.seq}) has a bad signature")
                continue
            points.append(
                Checkpoint(entry.seq, entry.hash, f"the witness published {entry.published_at}")
            )
    return WitnessReading(tuple(points), tuple(problems))


def unsealed_note(result: ChainVerification, now: datetime | None = None) -> str:
    if not result.unsealed:
        return "no event waits to be sealed"
    return (
        f"{result.unsealed} event(s) not sealed yet, the oldest for "
        f"{result.unsealed_lag_seconds(now):.0f} s"
    )
