"""The audit trail: who changed what next to money, when, from which value to which.

``AuditEvent`` rows are written only by ``staff.services.audit_record`` (called by the
services that change shares, holder payout details and user links, training links and
payout runs, and by every admin action). They are never edited or deleted: ``save()``
refuses an update, the admin is read-only, and on PostgreSQL (and SQLite) a trigger
refuses UPDATE and DELETE (migration 0002).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    # No database constraint and no cascade: deleting a user must neither fail nor touch the trail;
    # ``actor_name`` keeps who it was.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
    )
    actor_name = models.CharField(max_length=150, blank=True, help_text="The actor's username when it happened.")
    action = models.CharField(max_length=100, help_text="What was done, e.g. payout_run.approve.")
    object_type = models.CharField(max_length=100, help_text="app_label.model of the changed object.")
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    old_values = models.JSONField(default=dict, blank=True)
    new_values = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["object_type", "object_id", "created_at"], name="audit_object"),
            models.Index(fields=["action", "created_at"], name="audit_action"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name or 'system'}: {self.action} {self.object_repr}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)
