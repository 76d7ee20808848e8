"""Small helpers the apps' services share: who the actor is, whether they work at a clinic, and the
one-row lock a status change starts with."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import models

from .models import User


def user_or_none(actor: Any) -> User | None:
    """The actor as a user, or None for the system (a task, a command, a patient's link)."""
    return actor if isinstance(actor, User) else None


def actor_label(actor: Any) -> str:
    """How an event log names who did it: the username, or "system"."""
    if actor is not None and getattr(actor, "is_authenticated", False):
        return str(actor.get_username())
    return str(actor) if actor else "system"


def works_at(actor: Any, clinic_id: int) -> bool:
    """False only for a (non-superuser) user who does not work at the clinic; the system may."""
    user = user_or_none(actor)
    return user is None or user.is_superuser or clinic_id in user.clinic_ids


def lock_row[M: models.Model](model: type[M], obj: M | int, *, related: Sequence[str] = ()) -> M:
    """Lock one row of `model` (given as an instance or its id) FOR UPDATE, with `related` joined
    in but not locked (`of=("self",)`). Call inside a transaction; DoesNotExist if it is gone."""
    pk = obj if isinstance(obj, int) else obj.pk
    return (
        model._default_manager.select_for_update(of=("self",)).select_related(*related).get(pk=pk)
    )
