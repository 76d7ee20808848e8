"""The supplies services (moved into a package; split by job in the next commit)."""

from .usage import *  # noqa: F403
