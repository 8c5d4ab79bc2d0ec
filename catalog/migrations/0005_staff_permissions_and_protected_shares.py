"""Staff permissions on recordings and holders; shares and their history protected in the database.

* Deleting a recording no longer cascades to its shares or share history (PROTECT).
* Share history (``catalog_sharechange``) is append-only: on PostgreSQL a trigger
  refuses DELETE and any UPDATE except Django clearing ``changed_by`` when a user is
  deleted; on SQLite UPDATE of anything else is refused (test databases there are
  flushed with DELETE).
"""

import django.db.models.deletion
from django.db import migrations, models

HISTORY_COLUMNS = "recording_id, side, old_shares, new_shares, source, created_at"
POSTGRES_FORWARD = [
    f"""
    CREATE FUNCTION catalog_share_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND NEW.changed_by_id IS NULL
           AND ROW({", ".join("NEW." + c for c in HISTORY_COLUMNS.split(", "))})
               IS NOT DISTINCT FROM ROW({", ".join("OLD." + c for c in HISTORY_COLUMNS.split(", "))}) THEN
            RETURN NEW;  -- the user who made the change was deleted
        END IF;
        RAISE EXCEPTION 'share history is append-only: % refused; change the shares through the rights desk', TG_OP
            USING ERRCODE = '23514';
    END $$;
    """,
    """
    CREATE TRIGGER catalog_sharechange_append_only BEFORE UPDATE OR DELETE ON catalog_sharechange
        FOR EACH ROW EXECUTE FUNCTION catalog_share_history_append_only();
    """,
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS catalog_sharechange_append_only ON catalog_sharechange",
    "DROP FUNCTION IF EXISTS catalog_share_history_append_only()",
]
SQLITE_FORWARD = [
    f"""
    CREATE TRIGGER catalog_sharechange_no_update BEFORE UPDATE OF {HISTORY_COLUMNS} ON catalog_sharechange
    BEGIN SELECT RAISE(ABORT, 'share history is append-only'); END
    """,
]
SQLITE_REVERSE = ["DROP TRIGGER IF EXISTS catalog_sharechange_no_update"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0004_share_sum_trigger_postgres"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="recording",
            options={
                "ordering": ["artist", "title"],
                "permissions": [("verify_rights", "Can mark recordings' rights verified")],
            },
        ),
        migrations.AlterModelOptions(
            name="rightsholder",
            options={
                "ordering": ["name"],
                "permissions": [
                    ("change_payout_details", "Can change a rights holder's payout details"),
                    ("link_holder_user", "Can link a rights holder to a user account"),
                ],
            },
        ),
        migrations.AlterField(
            model_name="recordingshare",
            name="recording",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="shares", to="catalog.recording"
            ),
        ),
        migrations.AlterField(
            model_name="sharechange",
            name="recording",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="share_changes", to="catalog.recording"
            ),
        ),
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
