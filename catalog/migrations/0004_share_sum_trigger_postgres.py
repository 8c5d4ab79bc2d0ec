"""PostgreSQL re-checks at commit that each side of a recording's shares is empty or sums to 10,000 bps.

``catalog.services.recording_shares_set`` is the only writer and already refuses bad sums;
this deferred constraint trigger is the database's second line (like hordak's leg check),
so a raw UPDATE or a future bug cannot leave 9,999 bps behind. SQLite has no deferred
triggers; there the service check stands alone.
"""

from typing import Any

from django.db import migrations

CREATE = [
    """
    CREATE OR REPLACE FUNCTION catalog_check_share_sum() RETURNS trigger AS $$
    DECLARE
        rec_id bigint;
        side_name text;
        total bigint;
    BEGIN
        IF TG_OP = 'DELETE' THEN
            rec_id := OLD.recording_id; side_name := OLD.side;
        ELSE
            rec_id := NEW.recording_id; side_name := NEW.side;
        END IF;
        SELECT COALESCE(SUM(share_bps), 0) INTO total
          FROM catalog_recordingshare WHERE recording_id = rec_id AND side = side_name;
        IF total <> 0 AND total <> 10000 THEN
            RAISE EXCEPTION 'catalog: % shares of recording % add up to % bps, not 10000', side_name, rec_id, total
                USING ERRCODE = 'check_violation';
        END IF;
        IF TG_OP = 'UPDATE' AND (OLD.recording_id <> NEW.recording_id OR OLD.side <> NEW.side) THEN
            SELECT COALESCE(SUM(share_bps), 0) INTO total
              FROM catalog_recordingshare WHERE recording_id = OLD.recording_id AND side = OLD.side;
            IF total <> 0 AND total <> 10000 THEN
                RAISE EXCEPTION 'catalog: % shares of recording % add up to % bps, not 10000',
                    OLD.side, OLD.recording_id, total USING ERRCODE = 'check_violation';
            END IF;
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    "DROP TRIGGER IF EXISTS catalog_share_sum ON catalog_recordingshare",
    """
    CREATE CONSTRAINT TRIGGER catalog_share_sum
        AFTER INSERT OR UPDATE OR DELETE ON catalog_recordingshare
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION catalog_check_share_sum()
    """,
]
DROP = [
    "DROP TRIGGER IF EXISTS catalog_share_sum ON catalog_recordingshare",
    "DROP FUNCTION IF EXISTS catalog_check_share_sum()",
]


def _create(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in CREATE:
            schema_editor.execute(statement, params=None)


def _drop(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0003_search_indexes_postgres"),
    ]

    operations = [migrations.RunPython(_create, _drop)]
