"""PostgreSQL re-checks at commit that a generation's source shares sum to exactly 10⁹ ppb.

``generation.services.sources.generation_sources_record`` is the only writer and already
computes the shares with an exact largest-remainder split; this deferred constraint trigger
is the database's second line (like the ledger's zero-sum check), so a raw UPDATE or a future
bug cannot pay out 99.9999999% or 100.0000001% of the source pool. A generation with no rows
at all (its report stage has not run) passes. SQLite has no deferred triggers; there the
service check stands alone.
"""

from typing import Any

from django.db import migrations

CREATE = [
    """
    CREATE OR REPLACE FUNCTION generation_check_source_sum() RETURNS trigger AS $$
    DECLARE
        gen_id bigint;
        total bigint;
    BEGIN
        IF TG_OP = 'DELETE' THEN
            gen_id := OLD.generation_id;
        ELSE
            gen_id := NEW.generation_id;
        END IF;
        SELECT COALESCE(SUM(share_ppb), 0) INTO total FROM generation_generationsource WHERE generation_id = gen_id;
        IF total <> 0 AND total <> 1000000000 THEN
            RAISE EXCEPTION 'generation: the source shares of generation % add up to % ppb, not 1000000000',
                gen_id, total USING ERRCODE = 'check_violation';
        END IF;
        IF TG_OP = 'UPDATE' AND OLD.generation_id <> NEW.generation_id THEN
            SELECT COALESCE(SUM(share_ppb), 0) INTO total
              FROM generation_generationsource WHERE generation_id = OLD.generation_id;
            IF total <> 0 AND total <> 1000000000 THEN
                RAISE EXCEPTION 'generation: the source shares of generation % add up to % ppb, not 1000000000',
                    OLD.generation_id, total USING ERRCODE = 'check_violation';
            END IF;
        END IF;
        RETURN NULL;
    END;
    $$ LANGUAGE plpgsql
    """,
    "DROP TRIGGER IF EXISTS generation_source_sum ON generation_generationsource",
    """
    CREATE CONSTRAINT TRIGGER generation_source_sum
        AFTER INSERT OR UPDATE OR DELETE ON generation_generationsource
        DEFERRABLE INITIALLY DEFERRED
        FOR EACH ROW EXECUTE FUNCTION generation_check_source_sum()
    """,
]
DROP = [
    "DROP TRIGGER IF EXISTS generation_source_sum ON generation_generationsource",
    "DROP FUNCTION IF EXISTS generation_check_source_sum()",
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
        ("generation", "0005_generation_sources"),
    ]

    operations = [migrations.RunPython(_create, _drop)]
