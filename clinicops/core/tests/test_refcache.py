"""The reference cache: one cache round trip per read, and nothing from before a change."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from clinicops.core import refcache, softcache


@pytest.fixture
def reference() -> refcache.Reference:
    return refcache.Reference(f"test-{uuid.uuid4().hex}")


def test_a_hit_is_one_round_trip_and_a_bump_recomputes(
    reference: refcache.Reference, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed: list[int] = []

    def compute() -> dict[str, Any]:
        computed.append(1)
        return {"n": len(computed)}

    assert reference.cached("k", compute) == {"n": 1}
    reads: list[list[str]] = []
    real = softcache.get_many
    monkeypatch.setattr(softcache, "get_many", lambda keys: reads.append(keys) or real(keys))
    monkeypatch.setattr(softcache, "get", lambda *a, **k: pytest.fail("a second read"))
    assert reference.cached("k", compute) == {"n": 1}
    assert len(reads) == 1
    assert len(computed) == 1

    reference.bump()  # what a save of a watched model does
    assert reference.cached("k", compute) == {"n": 2}
    assert reference.cached("k", compute) == {"n": 2}
    assert len(computed) == 2


def test_an_entry_stored_under_an_older_version_is_not_used(
    reference: refcache.Reference,
) -> None:
    assert reference.cached("k", lambda: "old") == "old"
    stale_version = softcache.get(reference.version_key)
    reference.bump()
    # A reader that read the version before the bump stores its (old) rows afterwards ...
    softcache.set(f"reference:{reference.name}:entry:k", (stale_version, "old"), 60)
    # ... and no one uses them.
    assert reference.cached("k", lambda: "new") == "new"


def test_none_is_a_value_too(reference: refcache.Reference) -> None:
    calls: list[int] = []
    assert reference.cached("none", lambda: calls.append(1)) is None
    assert reference.cached("none", lambda: calls.append(1)) is None
    assert calls == [1]


def test_a_held_value_is_read_with_the_version_alone_while_current(
    reference: refcache.Reference, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed: list[int] = []

    def compute() -> dict[str, Any]:
        computed.append(1)
        return {"n": len(computed)}

    first = reference.held("k", compute)
    assert first == {"n": 1}
    reads: list[str] = []
    real = softcache.get
    monkeypatch.setattr(softcache, "get", lambda key, *a: reads.append(key) or real(key, *a))
    monkeypatch.setattr(softcache, "get_many", lambda keys: pytest.fail("the entry is read"))
    # the process's own copy: one read, of the version
    assert reference.held("k", compute) is first
    assert reads == [reference.version_key]
    assert computed == [1]


def test_a_held_value_is_not_used_after_a_change_or_its_ttl(
    reference: refcache.Reference, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed: list[int] = []

    def compute() -> int:
        computed.append(1)
        return len(computed)

    assert reference.held("k", compute) == 1
    reference.bump()  # a change, seen by this process or another one
    assert reference.held("k", compute) == 2
    assert reference.held("k", compute) == 2
    # another process stored a newer value under a newer version: this one reads it
    softcache.set(reference.version_key, "newer", None)
    softcache.set(f"reference:{reference.name}:entry:k", ("newer", 99), 60)
    assert reference.held("k", compute) == 99
    # past the ttl the process's copy is not used, even under the same version
    softcache.set(f"reference:{reference.name}:entry:k", ("newer", 100), 60)
    later = refcache.time.monotonic() + reference.ttl + 1
    monkeypatch.setattr(refcache.time, "monotonic", lambda: later)
    assert reference.held("k", compute) == 100
    assert computed == [1, 1]
