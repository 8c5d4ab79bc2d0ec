"""Who reviews artists' manual matches: a "Match reviewer" group, and the auditor sees the claims.

The auditor role holds every view permission of the audited apps (staff.roles); the claim model is
newer than that role's migration, so its view permission is added here. Reviewing is its own group
(view the uploads and the claims, approve or reject), so that no label role grows silently; put the
people who listen to claims in it. Permissions are created first, as in staff.0003.
"""

from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations

AUDITOR = "Read-only auditor"
MATCH_REVIEWER = "Match reviewer"
REVIEWER_PERMISSIONS = (
    ("uploads", "view_uploadset"),
    ("uploads", "view_upload"),
    ("uploads", "view_matchclaim"),
    ("uploads", "review_matchclaim"),
)


def roles_extend(apps, schema_editor):  # type: ignore[no-untyped-def]
    app_config = apps.get_app_config("uploads")
    app_config.models_module = True
    create_permissions(app_config, verbosity=0, apps=apps)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    view_claims = Permission.objects.get(content_type__app_label="uploads", codename="view_matchclaim")
    for auditor in Group.objects.filter(name=AUDITOR):
        auditor.permissions.add(view_claims)
    reviewer, _ = Group.objects.get_or_create(name=MATCH_REVIEWER)
    reviewer.permissions.set(
        [Permission.objects.get(content_type__app_label=a, codename=c) for a, c in REVIEWER_PERMISSIONS]
    )


def roles_shrink(apps, schema_editor):  # type: ignore[no-untyped-def]
    Group = apps.get_model("auth", "Group")
    Group.objects.filter(name=MATCH_REVIEWER).delete()
    for auditor in Group.objects.filter(name=AUDITOR):
        auditor.permissions.remove(
            *auditor.permissions.filter(content_type__app_label="uploads", codename="view_matchclaim")
        )


class Migration(migrations.Migration):
    dependencies = [
        ("uploads", "0003_manual_matches_need_review"),
        ("staff", "0003_label_roles"),
    ]

    operations = [migrations.RunPython(roles_extend, roles_shrink)]
