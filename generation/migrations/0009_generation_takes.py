"""Two takes per generation: ``take_of``, ``take_number`` and ``is_kept``.

Every generation made before takes existed is one song with one take, and that take is kept
(``is_kept`` is added with the default True, which fills the existing rows, then the default
becomes False for new takes: the artist keeps one of a new song's takes).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("generation", "0008_trainingrecording_link_permission"),
    ]

    operations = [
        migrations.AddField(
            model_name="generation",
            name="take_of",
            field=models.ForeignKey(
                blank=True,
                help_text="The song's first take; empty when this row is the first take (and the song itself).",
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="other_takes",
                to="generation.generation",
            ),
        ),
        migrations.AddField(
            model_name="generation",
            name="take_number",
            field=models.PositiveSmallIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="generation",
            name="is_kept",
            field=models.BooleanField(default=True, help_text="The take the artist keeps; only it can be published."),
        ),
        migrations.AlterField(
            model_name="generation",
            name="is_kept",
            field=models.BooleanField(default=False, help_text="The take the artist keeps; only it can be published."),
        ),
        migrations.AddConstraint(
            model_name="generation",
            constraint=models.CheckConstraint(
                condition=models.Q(("take_of__isnull", True), ("take_number", 1))
                | models.Q(("take_of__isnull", False), ("take_number__gte", 2)),
                name="generation_take_number_matches_take_of",
            ),
        ),
        migrations.AddConstraint(
            model_name="generation",
            constraint=models.UniqueConstraint(
                condition=models.Q(("take_of__isnull", False)),
                fields=("take_of", "take_number"),
                name="one_generation_row_per_take",
            ),
        ),
    ]
