from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def auditor_views_sync(*, using: str = "default", **_: Any) -> None:
    """Give the read-only auditor every view_* permission of the audited apps, new models included.

    Runs after every ``migrate`` (once per app: Django creates each app's permissions in its own
    post_migrate), so a model added later cannot be forgotten by a data migration; idempotent.
    """
    from django.contrib.auth.models import Group, Permission

    from staff.roles import AUDITED_APPS, READ_ONLY_AUDITOR

    views = Permission.objects.using(using).filter(
        content_type__app_label__in=AUDITED_APPS, codename__startswith="view_"
    )
    for auditor in Group.objects.using(using).filter(name=READ_ONLY_AUDITOR):
        auditor.permissions.add(*views)


class StaffConfig(AppConfig):
    name = "staff"
    verbose_name = "Staff roles and audit trail"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(auditor_views_sync, dispatch_uid="staff.auditor_views_sync")
