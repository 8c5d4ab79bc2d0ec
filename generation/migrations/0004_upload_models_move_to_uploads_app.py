"""Upload sets and uploads now live in the uploads app (same tables): point the foreign keys there.

State only: the database already holds these foreign keys to ``generation_uploadset`` and
``generation_upload``, the tables the uploads app's models keep using.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0003_upload_identify_claimed_at"),
        ("uploads", "0001_move_upload_models_from_generation"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="generation",
                    name="upload_set",
                    field=models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="generations", to="uploads.uploadset"
                    ),
                ),
                migrations.AlterField(
                    model_name="uploadfeatures",
                    name="upload",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE, related_name="features", to="uploads.upload"
                    ),
                ),
                migrations.DeleteModel(name="Upload"),
                migrations.DeleteModel(name="UploadSet"),
            ],
            database_operations=[],
        ),
    ]
