"""Full-text and trigram search structures for recordings, on PostgreSQL only.

SQLite has neither pg_trgm nor tsvector; there ``catalog.selectors.recording_search``
falls back to Python matching, so this migration does nothing. ``search_text`` is
already lower-case and accent-free (written by the service), so no unaccent extension
is needed.
"""

from typing import Any

from django.db import migrations

CREATE = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    # A stored tsvector: ranking reads it instead of re-parsing search_text for every candidate row.
    "ALTER TABLE catalog_recording ADD COLUMN IF NOT EXISTS search_vector tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, search_text)) STORED",
    "CREATE INDEX IF NOT EXISTS catalog_recording_search_fts ON catalog_recording USING gin (search_vector)",
    "CREATE INDEX IF NOT EXISTS catalog_recording_search_prefix ON catalog_recording (search_text text_pattern_ops)",
    # The vocabulary of search_text (pg_trgm's documented recipe for spelling suggestions): typos are
    # corrected against this small table, then the corrected words go through the full-text index.
    "CREATE TABLE IF NOT EXISTS catalog_search_word (word text PRIMARY KEY)",
    # GiST, not GIN: it answers "the k nearest words" (ORDER BY word <-> 'x' LIMIT k) straight from the index.
    "CREATE INDEX IF NOT EXISTS catalog_search_word_trgm ON catalog_search_word USING gist (word gist_trgm_ops)",
    "INSERT INTO catalog_search_word (word) SELECT word FROM ts_stat('SELECT search_vector FROM catalog_recording') "
    "ON CONFLICT DO NOTHING",
]
DROP = [
    "DROP TABLE IF EXISTS catalog_search_word",
    "DROP INDEX IF EXISTS catalog_recording_search_prefix",
    "DROP INDEX IF EXISTS catalog_recording_search_fts",
    "ALTER TABLE catalog_recording DROP COLUMN IF EXISTS search_vector",
]


def _fill_search_text(apps: Any, schema_editor: Any) -> None:
    from catalog.text import search_text_for  # a pure function: safe to use in a migration

    Recording = apps.get_model("catalog", "Recording")
    for recording in Recording.objects.filter(search_text="").iterator():
        recording.search_text = search_text_for(title=recording.title, artist=recording.artist, album=recording.album)
        recording.save(update_fields=["search_text"])


def _create_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in CREATE:
        schema_editor.execute(statement)


def _drop_indexes(apps: Any, schema_editor: Any) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in DROP:
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("catalog", "0002_rights_history_and_search"),
    ]

    operations = [
        migrations.RunPython(_fill_search_text, migrations.RunPython.noop),
        migrations.RunPython(_create_indexes, _drop_indexes),
    ]
