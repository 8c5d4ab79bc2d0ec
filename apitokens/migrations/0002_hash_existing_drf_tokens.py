"""Move DRF's plaintext tokens into hashed ApiTokens, then delete the plaintext rows.

Each existing key keeps working (third parties reading statements need not change anything today):
its SHA-256 becomes an ApiToken named "Token from before hashing", expiring
SONGFORGE_TOKEN_MIGRATED_DAYS (default 90) days after the migration, so holders have that long to
make a named token of their own. Reversing recreates nothing: the keys are no longer known.
"""

from __future__ import annotations

import datetime
import hashlib

from django.conf import settings
from django.db import migrations
from django.utils import timezone


def hash_tokens(apps, schema_editor):  # type: ignore[no-untyped-def]
    Token = apps.get_model("authtoken", "Token")
    ApiToken = apps.get_model("apitokens", "ApiToken")
    now = timezone.now()
    expires = now + datetime.timedelta(days=settings.API_TOKEN_MIGRATED_DAYS)
    for old in Token.objects.order_by("created"):
        ApiToken.objects.create(
            user_id=old.user_id,
            name="Token from before hashing",
            prefix=old.key[:10],
            digest=hashlib.sha256(old.key.encode()).hexdigest(),
            expires_at=expires,
        )
    Token.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("apitokens", "0001_hashed_api_tokens"),
        ("authtoken", "0004_alter_tokenproxy_options"),
    ]

    operations = [migrations.RunPython(hash_tokens, migrations.RunPython.noop)]
