"""Reading the audit trail."""

from __future__ import annotations

from django.db.models import Model, QuerySet

from staff.models import AuditEvent


def audit_events_for(*, target: Model) -> QuerySet[AuditEvent]:
    """Every audit event of one object, newest first."""
    return AuditEvent.objects.filter(
        object_type=f"{target._meta.app_label}.{target._meta.model_name}", object_id=str(target.pk)
    )
