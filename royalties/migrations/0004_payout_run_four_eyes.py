"""Four eyes on payout runs, staff permissions, and split sheets immutable in the database.

* A run records its creator, approver and payer; the approver is never the creator
  (check constraint), and "paid" is its own status with a payment reference.
  Runs approved before this migration were paid on approval: they become "paid",
  paid by their approver, with a reference saying none was recorded.
* Triggers refuse UPDATE and DELETE of split sheets and their lines on PostgreSQL
  (UPDATE on SQLite), as the ledger's do: a wrong sheet is superseded, never edited.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

LEGACY_REFERENCE = "(paid on approval before payment references were recorded)"

SPLIT_TABLES = ("royalties_splitsheet", "royalties_splitsheetline")
POSTGRES_FORWARD = [
    """
    CREATE FUNCTION royalties_split_sheet_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'split sheets are immutable: % on % refused', TG_OP, TG_TABLE_NAME USING ERRCODE = '23514';
    END $$;
    """,
    *(
        f"""
        CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table}
            FOR EACH ROW EXECUTE FUNCTION royalties_split_sheet_immutable();
        """
        for table in SPLIT_TABLES
    ),
]
POSTGRES_REVERSE = [
    *(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}" for table in SPLIT_TABLES),
    "DROP FUNCTION IF EXISTS royalties_split_sheet_immutable()",
]
# SQLite: UPDATE only (test databases there are flushed with DELETE).
SQLITE_FORWARD = [
    f"""
    CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
    BEGIN SELECT RAISE(ABORT, 'split sheets are immutable'); END
    """
    for table in SPLIT_TABLES
]
SQLITE_REVERSE = [f"DROP TRIGGER IF EXISTS {table}_no_update" for table in SPLIT_TABLES]


def legacy_runs_paid(apps, schema_editor):
    PayoutRun = apps.get_model("royalties", "PayoutRun")
    for run in PayoutRun.objects.filter(status="approved"):
        if run.payouts.filter(paid_transaction__isnull=True).exists():
            continue
        run.status = "paid"
        run.paid_at = run.approved_at
        run.paid_by_id = run.approved_by_id
        run.payment_reference = LEGACY_REFERENCE
        run.save(update_fields=["status", "paid_at", "paid_by", "payment_reference"])


def legacy_runs_approved(apps, schema_editor):
    apps.get_model("royalties", "PayoutRun").objects.filter(payment_reference=LEGACY_REFERENCE).update(
        status="approved", payment_reference=""
    )


def triggers(forward: bool):
    def run(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            statements = POSTGRES_FORWARD if forward else POSTGRES_REVERSE
        elif vendor == "sqlite":
            statements = SQLITE_FORWARD if forward else SQLITE_REVERSE
        else:
            return
        for sql in statements:
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("royalties", "0003_statement_uploads"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="linegroup",
            options={
                "ordering": ["statement_id", "first_line"],
                "permissions": [("reapply_suspense", "Can re-apply suspense lines")],
            },
        ),
        migrations.AlterModelOptions(
            name="payoutrun",
            options={
                "ordering": ["-period"],
                "permissions": [
                    ("approve_payoutrun", "Can approve payout runs created by someone else"),
                    ("pay_payoutrun", "Can mark approved payout runs paid with a payment reference"),
                ],
            },
        ),
        migrations.AlterModelOptions(
            name="statement",
            options={
                "ordering": ["-created_at"],
                "permissions": [("import_statement", "Can import distributor statements")],
            },
        ),
        migrations.AddField(
            model_name="payoutrun",
            name="created_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="payoutrun",
            name="paid_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="payoutrun",
            name="paid_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AddField(
            model_name="payoutrun",
            name="payment_reference",
            field=models.CharField(blank=True, help_text="The bank batch or transfer id.", max_length=200),
        ),
        migrations.AlterField(
            model_name="payoutrun",
            name="approved_by",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="payoutrun",
            name="status",
            field=models.CharField(
                choices=[("draft", "Awaiting approval"), ("approved", "Approved, awaiting payment"), ("paid", "Paid")],
                default="draft",
                max_length=16,
            ),
        ),
        migrations.RunPython(legacy_runs_paid, legacy_runs_approved),
        migrations.AddConstraint(
            model_name="payoutrun",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("created_by__isnull", True),
                    ("approved_by__isnull", True),
                    models.Q(("approved_by", models.F("created_by")), _negated=True),
                    _connector="OR",
                ),
                name="payout_run_approver_not_creator",
            ),
        ),
        migrations.AddConstraint(
            model_name="payoutrun",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "paid"), _negated=True),
                    models.Q(("payment_reference", ""), _negated=True),
                    _connector="OR",
                ),
                name="payout_run_paid_has_reference",
            ),
        ),
        migrations.RunPython(triggers(True), triggers(False)),
    ]
