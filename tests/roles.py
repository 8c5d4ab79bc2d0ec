"""Staff accounts in a label role (the groups made by migration staff.0003)."""

from __future__ import annotations

from django.contrib.auth.models import Group, User

from tests.factories import UserFactory


def staff_user(username: str, *roles: str) -> User:
    """An active staff account in the named roles (none: staff with zero permissions)."""
    user = UserFactory.create(username=username, is_staff=True)
    user.groups.add(*Group.objects.filter(name__in=roles))
    assert user.groups.count() == len(roles), f"unknown role among {roles}"
    return user
