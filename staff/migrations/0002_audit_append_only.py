"""The audit trail is append-only in the database.

PostgreSQL: a trigger refuses UPDATE and DELETE of audit events (TRUNCATE stays
possible so test databases can be flushed). SQLite: UPDATE is refused (test databases
there are flushed with DELETE).
"""

from django.db import migrations

POSTGRES_FORWARD = [
    """
    CREATE FUNCTION staff_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit trail is append-only: % refused', TG_OP USING ERRCODE = '23514';
    END $$;
    """,
    """
    CREATE TRIGGER staff_auditevent_append_only BEFORE UPDATE OR DELETE ON staff_auditevent
        FOR EACH ROW EXECUTE FUNCTION staff_audit_append_only();
    """,
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS staff_auditevent_append_only ON staff_auditevent",
    "DROP FUNCTION IF EXISTS staff_audit_append_only()",
]
SQLITE_FORWARD = [
    """
    CREATE TRIGGER staff_auditevent_no_update BEFORE UPDATE ON staff_auditevent
    BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END
    """,
]
SQLITE_REVERSE = ["DROP TRIGGER IF EXISTS staff_auditevent_no_update"]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("staff", "0001_audit_event")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
