"""Upload sets and uploads move from the generation app to this one; their tables stay where they are.

State only: the tables ``generation_uploadset`` and ``generation_upload`` were created by the
generation app's migrations 0001 and 0003 and keep their names (``db_table``), so no data moves.
Generation's migration 0004 then points its foreign keys here and drops the models from its state.
The content types (and so the staff permissions granted on them) are renamed to this app.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MODELS = ("uploadset", "upload")


def rename_content_types(apps, schema_editor, old="generation", new="uploads"):
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not content_type.objects.filter(app_label=new, model=model).exists():
            content_type.objects.filter(app_label=old, model=model).update(app_label=new)


def restore_content_types(apps, schema_editor):
    rename_content_types(apps, schema_editor, old="uploads", new="generation")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("catalog", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("generation", "0003_upload_identify_claimed_at"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="UploadSet",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("title", models.CharField(blank=True, max_length=200)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "owner",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="upload_sets",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "generation_uploadset",
                        "ordering": ["-created_at"],
                    },
                ),
                migrations.CreateModel(
                    name="Upload",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("original_name", models.CharField(max_length=255)),
                        ("audio", models.FileField(upload_to="uploads/%Y/%m/")),
                        ("audio_format", models.CharField(max_length=16)),
                        ("size_bytes", models.BigIntegerField()),
                        ("sha256", models.CharField(max_length=64)),
                        ("duration_s", models.FloatField(blank=True, null=True)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("identifying", "Identifying"),
                                    ("matched", "Matched"),
                                    ("unmatched", "No match"),
                                    ("failed", "Failed"),
                                ],
                                default="identifying",
                                max_length=16,
                            ),
                        ),
                        (
                            "match_method",
                            models.CharField(
                                blank=True,
                                choices=[
                                    ("isrc", "ISRC tag"),
                                    ("fingerprint", "Fingerprint"),
                                    ("shazam", "Shazam"),
                                    ("manual", "Picked by hand"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("confidence", models.FloatField(blank=True, null=True)),
                        ("offset_s", models.FloatField(blank=True, null=True)),
                        ("failure_reason", models.TextField(blank=True)),
                        (
                            "identify_claimed_at",
                            models.DateTimeField(
                                blank=True,
                                help_text="When an identification run claimed this upload (stale claims are retaken).",
                                null=True,
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "recording",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="uploads",
                                to="catalog.recording",
                            ),
                        ),
                        (
                            "upload_set",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="uploads",
                                to="uploads.uploadset",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "generation_upload",
                        "ordering": ["upload_set_id", "created_at", "id"],
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("upload_set", "sha256"), name="upload_unique_audio_per_set"
                            ),
                            models.CheckConstraint(
                                condition=models.Q(
                                    models.Q(("status", "matched"), _negated=True),
                                    ("recording__isnull", False),
                                    _connector="OR",
                                ),
                                name="matched_upload_has_recording",
                            ),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(rename_content_types, restore_content_types),
    ]
