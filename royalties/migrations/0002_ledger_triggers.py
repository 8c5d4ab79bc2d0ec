"""Database-enforced ledger rules.

PostgreSQL:
* a deferred constraint trigger re-checks at COMMIT that every new transaction
  has at least two entries summing to zero per currency;
* a statement-level trigger refuses entries added to a transaction posted in an
  earlier database transaction (append-only: post a new transaction instead);
* the same statement trigger checks, set-based, that every new entry names an
  existing transaction and an existing account of the entry's currency (instead of
  per-row foreign-key triggers: an allocation inserts 400,000 entries at once);
* row triggers refuse UPDATE and DELETE of entries, transactions and accounts.
  (TRUNCATE stays possible so test databases can be flushed.)

SQLite (development, tests): UPDATE of entries, transactions and accounts is refused.
"""

from django.db import migrations

POSTGRES_FORWARD = [
    """
    CREATE FUNCTION royalties_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        legs bigint;
        unbalanced text;
    BEGIN
        SELECT count(*) INTO legs FROM royalties_entry WHERE transaction_id = NEW.id;
        IF legs < 2 THEN
            RAISE EXCEPTION 'ledger transaction % has % entries; at least two are required', NEW.id, legs
                USING ERRCODE = '23514';
        END IF;
        SELECT string_agg(currency || ' ' || total, ', ') INTO unbalanced FROM (
            SELECT currency, sum(amount_minor) AS total FROM royalties_entry
            WHERE transaction_id = NEW.id GROUP BY currency HAVING sum(amount_minor) <> 0
        ) t;
        IF unbalanced IS NOT NULL THEN
            RAISE EXCEPTION 'ledger transaction % does not balance: %', NEW.id, unbalanced USING ERRCODE = '23514';
        END IF;
        RETURN NULL;
    END $$;
    """,
    """
    CREATE CONSTRAINT TRIGGER royalties_transaction_balanced
        AFTER INSERT ON royalties_transaction DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION royalties_transaction_balanced();
    """,
    """
    CREATE FUNCTION royalties_entry_same_posting() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF EXISTS (
            SELECT 1 FROM (SELECT DISTINCT transaction_id FROM new_entries) n
            LEFT JOIN royalties_transaction t ON t.id = n.transaction_id
            WHERE t.id IS NULL OR t.created_at <> transaction_timestamp()
        ) THEN
            RAISE EXCEPTION 'ledger entries can only be added while their transaction is posted; post a new transaction'
                USING ERRCODE = '23514';
        END IF;
        IF EXISTS (
            SELECT 1 FROM (SELECT DISTINCT account_id, currency FROM new_entries) n
            LEFT JOIN royalties_account a ON a.id = n.account_id
            WHERE a.id IS NULL OR a.currency <> n.currency
        ) THEN
            RAISE EXCEPTION 'ledger entries must name an existing account of their currency' USING ERRCODE = '23503';
        END IF;
        RETURN NULL;
    END $$;
    """,
    """
    CREATE TRIGGER royalties_entry_same_posting AFTER INSERT ON royalties_entry
        REFERENCING NEW TABLE AS new_entries FOR EACH STATEMENT EXECUTE FUNCTION royalties_entry_same_posting();
    """,
    """
    CREATE FUNCTION royalties_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the ledger is append-only: % on % refused; post a reversing transaction', TG_OP, TG_TABLE_NAME
            USING ERRCODE = '23514';
    END $$;
    """,
    """
    CREATE TRIGGER royalties_entry_append_only BEFORE UPDATE OR DELETE ON royalties_entry
        FOR EACH ROW EXECUTE FUNCTION royalties_ledger_append_only();
    """,
    """
    CREATE TRIGGER royalties_transaction_append_only BEFORE UPDATE OR DELETE ON royalties_transaction
        FOR EACH ROW EXECUTE FUNCTION royalties_ledger_append_only();
    """,
    """
    CREATE TRIGGER royalties_account_append_only BEFORE UPDATE OR DELETE ON royalties_account
        FOR EACH ROW EXECUTE FUNCTION royalties_ledger_append_only();
    """,
]
POSTGRES_REVERSE = [
    "DROP TRIGGER IF EXISTS royalties_account_append_only ON royalties_account",
    "DROP TRIGGER IF EXISTS royalties_transaction_append_only ON royalties_transaction",
    "DROP TRIGGER IF EXISTS royalties_entry_append_only ON royalties_entry",
    "DROP FUNCTION IF EXISTS royalties_ledger_append_only()",
    "DROP TRIGGER IF EXISTS royalties_entry_same_posting ON royalties_entry",
    "DROP FUNCTION IF EXISTS royalties_entry_same_posting()",
    "DROP TRIGGER IF EXISTS royalties_transaction_balanced ON royalties_transaction",
    "DROP FUNCTION IF EXISTS royalties_transaction_balanced()",
]
SQLITE_FORWARD = [
    """
    CREATE TRIGGER royalties_account_no_update BEFORE UPDATE ON royalties_account
    BEGIN SELECT RAISE(ABORT, 'ledger accounts never change'); END
    """,
    """
    CREATE TRIGGER royalties_entry_no_update BEFORE UPDATE ON royalties_entry
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: post a reversing transaction'); END
    """,
    """
    CREATE TRIGGER royalties_transaction_no_update BEFORE UPDATE ON royalties_transaction
    BEGIN SELECT RAISE(ABORT, 'the ledger is append-only: post a reversing transaction'); END
    """,
]
SQLITE_REVERSE = [
    "DROP TRIGGER IF EXISTS royalties_account_no_update",
    "DROP TRIGGER IF EXISTS royalties_entry_no_update",
    "DROP TRIGGER IF EXISTS royalties_transaction_no_update",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        for sql in statements_by_vendor.get(schema_editor.connection.vendor, []):
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("royalties", "0001_ledger_and_split_sheets")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_REVERSE, "sqlite": SQLITE_REVERSE}),
        ),
    ]
