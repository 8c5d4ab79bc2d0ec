"""Writing the audit trail (``staff.models.AuditEvent``); nothing else writes it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.db import models

from staff.models import AuditEvent


def audit_record(
    *,
    actor_id: int | None,
    action: str,
    target: models.Model,
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event: ``actor_id`` did ``action`` to ``target``, changing ``old`` into ``new``.

    Values must be JSON-serialisable (ids, strings, integers). Call it inside the
    service's transaction, so the change and its record commit or roll back together.
    """
    actor_name = ""
    if actor_id is not None:
        actor_name = get_user_model().objects.filter(pk=actor_id).values_list("username", flat=True).first() or ""
    return AuditEvent.objects.create(
        actor_id=actor_id,
        actor_name=actor_name,
        action=action,
        object_type=f"{target._meta.app_label}.{target._meta.model_name}",
        object_id=str(target.pk),
        object_repr=str(target)[:200],
        old_values=dict(old or {}),
        new_values=dict(new or {}),
    )


def values_of(obj: models.Model, fields: list[str]) -> dict[str, Any]:
    """The named fields of ``obj`` as JSON-ready values (foreign keys as ids, dates as ISO text)."""
    result: dict[str, Any] = {}
    for name in fields:
        field = obj._meta.get_field(name)
        assert isinstance(field, models.Field), f"{name} is not a concrete field"
        value = getattr(obj, field.attname)
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        result[field.attname if field.is_relation else name] = value
    return result


def admin_action_record(
    *,
    actor_id: int,
    action: str,
    target: models.Model,
    old: Mapping[str, Any] | None = None,
    new: Mapping[str, Any] | None = None,
    message: str = "",
) -> AuditEvent:
    """An admin action changed ``target``: the admin's history (``LogEntry``) and the audit trail both say so.

    For actions whose service does not audit by itself; call it after the service succeeded.
    """
    LogEntry.objects.log_actions(
        user_id=actor_id,
        queryset=[target],
        action_flag=CHANGE,
        change_message=message or action,
        single_object=True,
    )
    return audit_record(actor_id=actor_id, action=action, target=target, old=old, new=new)
