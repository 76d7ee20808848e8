"""Cache calls that degrade when Redis is down, for pages that must keep working without it.

The cache (Redis) only ever saves work on a page: a page that reads or writes it through these
functions answers as if the value was not cached when Redis cannot be reached, and logs a
warning. Only "Redis is unreachable" is swallowed (connection refused or reset, a timeout,
Redis still loading its snapshot); any other error (a bad key, a value that does not pickle,
Redis refusing a command) still raises, so a bug is not hidden as an outage.

Use `django.core.cache.cache` directly only where failing loudly is the point: the audit
chain's verified head (clinicops.audit.services) must not be skipped silently, and its Celery task
retries on RedisError instead. See docs/decisions/0012-redis-down.md.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.cache import cache
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

# redis-py wraps socket failures in its own ConnectionError / TimeoutError (BusyLoadingError,
# "Redis is loading the dataset in memory", is a ConnectionError too); the built-in ones cover
# a socket error that escapes unwrapped.
UNAVAILABLE: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    TimeoutError,
)


def get(key: str, default: Any = None) -> Any:
    """`cache.get(key, default)`, or `default` when the cache cannot be reached."""
    try:
        return cache.get(key, default)
    except UNAVAILABLE as error:
        logger.warning("Cache unreachable; reading %r skipped: %s", key, error)
        return default


def get_many(keys: list[str]) -> dict[str, Any]:
    """`cache.get_many(keys)` (one round trip), or {} when the cache cannot be reached."""
    try:
        return dict(cache.get_many(keys))
    except UNAVAILABLE as error:
        logger.warning("Cache unreachable; reading %r skipped: %s", keys, error)
        return {}


def set(key: str, value: Any, timeout: float | None) -> bool:
    """`cache.set(...)`; False (nothing stored) when the cache cannot be reached."""
    try:
        cache.set(key, value, timeout=timeout)
    except UNAVAILABLE as error:
        logger.warning("Cache unreachable; storing %r skipped: %s", key, error)
        return False
    return True
