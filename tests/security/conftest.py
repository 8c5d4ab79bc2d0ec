"""Named people for the attacks: an artist (owner), another artist (outsider), a reviewer, plain staff."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from tests.uploads.conftest import make_recording, outsider, owner, owner_api  # noqa: F401 (fixtures)
from tests.web.conftest import recordings  # noqa: F401 (fixture)


@pytest.fixture
def staff_without_permissions(db: None) -> Any:
    return get_user_model().objects.create_user(
        username="viewer", email="viewer@example.com", password="x-pass-123", is_staff=True
    )


def grant(user: Any, *codenames: str) -> Any:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return get_user_model().objects.get(pk=user.pk)  # fresh: permissions are cached per instance
