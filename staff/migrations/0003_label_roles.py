"""The label's staff roles as groups, with exactly the permissions of ``staff.roles`` at this point.

Permissions are normally created after all migrations (post_migrate); they are created
here first so the groups can hold the custom ones (``approve_payoutrun``…). The role
table is copied, not imported: a migration is a snapshot. Changing a role later means
a new migration (the roles test compares the database with ``staff.roles``).
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

AUDITED_APPS = ("catalog", "uploads", "generation", "royalties", "distribution", "staff")

ROLES = {
    "Rights manager": (
        "catalog.view_recording",
        "catalog.add_recording",
        "catalog.change_recording",
        "catalog.verify_rights",
        "catalog.view_recordingshare",
        "catalog.add_recordingshare",
        "catalog.change_recordingshare",
        "catalog.delete_recordingshare",
        "catalog.view_sharechange",
        "catalog.view_rightsholder",
        "catalog.add_rightsholder",
        "catalog.change_rightsholder",
        "catalog.link_holder_user",
        "uploads.view_uploadset",
        "uploads.view_upload",
        "uploads.change_upload",
        "generation.view_generation",
        "generation.view_trainingrecording",
        "generation.change_trainingrecording",
        "generation.link_training_recording",
        "distribution.view_release",
        "distribution.take_down_release",
        "distribution.deliver_release",
        "royalties.view_splitsheet",
        "royalties.view_splitsheetline",
    ),
    "Royalty accountant": (
        "royalties.view_statement",
        "royalties.import_statement",
        "royalties.view_statementupload",
        "royalties.view_linegroup",
        "royalties.reapply_suspense",
        "royalties.view_account",
        "royalties.view_transaction",
        "royalties.view_entry",
        "royalties.view_splitsheet",
        "royalties.view_splitsheetline",
        "royalties.view_payoutrun",
        "royalties.add_payoutrun",
        "royalties.pay_payoutrun",
        "royalties.view_payout",
        "catalog.view_rightsholder",
        "catalog.change_rightsholder",
        "catalog.change_payout_details",
        "catalog.view_recording",
        "distribution.view_release",
    ),
    "Payout approver": (
        "royalties.view_payoutrun",
        "royalties.approve_payoutrun",
        "royalties.view_payout",
        "royalties.view_account",
        "royalties.view_transaction",
        "royalties.view_entry",
        "catalog.view_rightsholder",
    ),
    "Read-only auditor": (),
}


def roles_create(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, verbosity=0, apps=apps)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, names in ROLES.items():
        if names:
            wanted = [tuple(n.split(".", 1)) for n in names]
            permissions = [Permission.objects.get(content_type__app_label=a, codename=c) for a, c in wanted]
        else:  # the auditor: every view permission of the audited apps
            permissions = list(
                Permission.objects.filter(content_type__app_label__in=AUDITED_APPS, codename__startswith="view_")
            )
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions)


def roles_delete(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("catalog", "0005_staff_permissions_and_protected_shares"),
        ("distribution", "0004_release_staff_permissions"),
        ("generation", "0008_trainingrecording_link_permission"),
        ("royalties", "0004_payout_run_four_eyes"),
        ("uploads", "0001_move_upload_models_from_generation"),
        ("staff", "0002_audit_append_only"),
    ]

    operations = [migrations.RunPython(roles_create, roles_delete)]
