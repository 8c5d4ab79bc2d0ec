"""Who decides escrow claims: an "Escrow claim reviewer" group; the auditor sees the claims (and the carry).

As with uploads.0004 (the match reviewer): the label roles of staff.0003 stay frozen, so deciding
claims is its own group (read the claims, recordings and holders; approve or reject). The service
still refuses a decision by the person who filed the claim. Permissions are created first, as in
staff.0003.
"""

from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations

AUDITOR = "Read-only auditor"
AUDITED_APPS = ("catalog", "uploads", "generation", "royalties", "distribution", "staff")
ESCROW_REVIEWER = "Escrow claim reviewer"
REVIEWER_PERMISSIONS = (
    ("royalties", "view_escrowclaim"),
    ("royalties", "decide_escrowclaim"),
    ("catalog", "view_recording"),
    ("catalog", "view_rightsholder"),
)


def roles_extend(apps, schema_editor):  # type: ignore[no-untyped-def]
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    # The auditor reads every model of the audited apps, including those newer than staff.0003
    # (the carry table, escrow claims): whichever order the migrations ran in, it holds them all now.
    every_view = Permission.objects.filter(content_type__app_label__in=AUDITED_APPS, codename__startswith="view_")
    for auditor in Group.objects.filter(name=AUDITOR):
        auditor.permissions.add(*every_view)
    reviewer, _ = Group.objects.get_or_create(name=ESCROW_REVIEWER)
    reviewer.permissions.set(
        [Permission.objects.get(content_type__app_label=a, codename=c) for a, c in REVIEWER_PERMISSIONS]
    )


def roles_shrink(apps, schema_editor):  # type: ignore[no-untyped-def]
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name=ESCROW_REVIEWER).delete()
    for auditor in Group.objects.filter(name=AUDITOR):
        auditor.permissions.remove(
            *auditor.permissions.filter(content_type__app_label="royalties", codename="view_escrowclaim")
        )


class Migration(migrations.Migration):
    dependencies = [
        ("royalties", "0006_escrow_claims"),
        ("staff", "0003_label_roles"),
    ]

    operations = [migrations.RunPython(roles_extend, roles_shrink)]
