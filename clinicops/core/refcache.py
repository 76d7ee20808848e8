"""Reference data in the cache, replaced as soon as it changes.

Some data every page reads changes a few times a week (a clinic's appointment types, its
providers' templates, the flow board's thresholds). `Reference("name")` keeps values computed
from such data in the cache (Redis) for `ttl` seconds under a version; `watch()` connects the
models it is computed from, so that any save, delete or many-to-many change of them replaces
the version (once at once and once more when the change commits, so a reader in between
cannot keep the old rows), and the next request computes afresh. Bulk updates send no signal:
code that bulk-updates watched rows calls `bump()` itself. Redis down: computed every time,
as before (clinicops.core.softcache). See docs/decisions (reference-data cache).

`held()` keeps a value in the process too, for a caller that only reads it: while the version
is current, a read is the version's round trip alone, without the entry's transfer and
unpickling (the day view's reference: about 0.35 ms of CPU on every request).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.db import models, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from . import softcache

# Saves that change only these fields do not replace the version.
IGNORED_FIELDS = frozenset({"last_login", "last_clinic"})
# Values `held()` keeps in a process, per reference (beyond it, they are dropped and read again).
HELD_LIMIT = 64


class Reference:
    def __init__(self, name: str, *, ttl: int = 300) -> None:
        self.name = name
        self.ttl = ttl
        self.version_key = f"reference:{name}:version"
        # key -> (version, monotonic time it expires, value): `held()`'s copies.
        self._held: dict[str, tuple[str, float, Any]] = {}

    def bump(self) -> None:
        """The data changed: nothing cached before is used again."""
        softcache.set(self.version_key, uuid.uuid4().hex, None)

    def cached(self, key: str, compute: Callable[[], Any]) -> Any:
        """`compute()`, kept under the current version for `ttl` seconds.

        One round trip to the cache: the version and the entry are read together, and the
        entry (the version it was computed under, the value) is used only when its version is
        the current one.
        """
        return self._cached(key, compute)[1]

    def held(self, key: str, compute: Callable[[], Any]) -> Any:
        """`cached(key, compute)`, also kept in this process for `ttl` seconds: while the
        version is current, one round trip reads only the version and the value is the
        process's own. Every caller shares the same objects: they must only read them.
        """
        version = softcache.get(self.version_key)
        held = self._held.get(key)
        if version is not None and held is not None:
            held_version, expires, value = held
            if held_version == version and time.monotonic() < expires:
                return value
        version, value = self._cached(key, compute)
        if len(self._held) >= HELD_LIMIT:
            self._held.clear()
        self._held[key] = (version, time.monotonic() + self.ttl, value)
        return value

    def _cached(self, key: str, compute: Callable[[], Any]) -> tuple[str, Any]:
        """`cached`, with the version the value is current under."""
        entry_key = f"reference:{self.name}:entry:{key}"
        found = softcache.get_many([self.version_key, entry_key])
        version = found.get(self.version_key)
        entry = found.get(entry_key)
        if version is None:
            version = uuid.uuid4().hex
            softcache.set(self.version_key, version, None)
        elif isinstance(entry, tuple) and len(entry) == 2 and entry[0] == version:
            return version, entry[1]
        value = compute()
        softcache.set(entry_key, (version, value), self.ttl)
        return version, value

    def _changed(self, **kwargs: Any) -> None:
        # A login stamps the user's last_login: nothing the reference data shows changed.
        if kwargs.get("update_fields") and set(kwargs["update_fields"]) <= IGNORED_FIELDS:
            return
        self.bump()
        transaction.on_commit(self.bump)

    def watch(
        self, models_: Iterable[type[models.Model]], *, m2m: Iterable[type[models.Model]] = ()
    ) -> None:
        for model in models_:
            uid = f"reference-{self.name}-{model._meta.label}"
            post_save.connect(self._changed, sender=model, dispatch_uid=f"{uid}-save")
            post_delete.connect(self._changed, sender=model, dispatch_uid=f"{uid}-delete")
        for through in m2m:
            uid = f"reference-{self.name}-{through._meta.label}-m2m"
            m2m_changed.connect(self._changed, sender=through, dispatch_uid=uid)
