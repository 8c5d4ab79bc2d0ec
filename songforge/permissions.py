"""Staff access: every staff path checks a Django permission, never ``is_staff`` alone.

Being staff only lets a person into the admin; what they may see or do there and in
the staff API comes from the permissions of their role (``staff.roles``). Both helpers
fail closed: an API method without a mapped permission, or an admin action without a
``has_<name>_permission`` check, is refused.

* API views name the permission per HTTP method in ``staff_permissions``
  (``{"GET": "royalties.view_payout"}``); ``StaffPermission`` refuses everyone else,
  ``HolderOrStaffPermission`` also lets non-staff users in (the view then scopes them to
  their own holder).
* Admin actions declare ``permissions=["take_down"]`` and the ModelAdmin defines
  ``has_take_down_permission = model_permission("take_down_release")``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.admin import ModelAdmin
from django.http import HttpRequest
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

# Reading methods share the GET permission; everything else must be named on the view.
READ_METHODS = {"GET", "HEAD", "OPTIONS"}


def required_permission(view: Any, method: str) -> str | None:
    """The permission the view's ``staff_permissions`` names for ``method`` (HEAD/OPTIONS read as GET)."""
    mapping: dict[str, str] = getattr(view, "staff_permissions", {})
    if method in mapping:
        return mapping[method]
    if method in READ_METHODS:
        return mapping.get("GET")
    return None


def is_staff_allowed(user: Any, view: Any, method: str) -> bool:
    """An active staff user holding the permission the view names for this method."""
    if not (user and user.is_authenticated and user.is_active and user.is_staff):
        return False
    permission = required_permission(view, method)
    return permission is not None and bool(user.has_perm(permission))


class StaffPermission(BasePermission):
    """Staff-only API: the method's permission from ``view.staff_permissions`` is required (403 otherwise)."""

    message = "Your staff role does not include this; ask an administrator for the permission."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_staff_allowed(request.user, view, request.method or "GET")


class HolderOrStaffPermission(BasePermission):
    """Holders' own data or, for staff, everyone's: staff need the mapped permission, others just a login.

    The view must scope non-staff users to their own rights holder.
    """

    message = StaffPermission.message

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if not user.is_staff:
            return True
        return is_staff_allowed(user, view, request.method or "GET")


def model_permission(codename: str) -> Callable[[ModelAdmin[Any], HttpRequest], bool]:
    """A ``has_<action>_permission`` method for a ModelAdmin: the user holds ``<app_label>.<codename>``."""

    def check(self: ModelAdmin[Any], request: HttpRequest) -> bool:
        return bool(request.user.has_perm(f"{self.opts.app_label}.{codename}"))

    check.__name__ = f"has_{codename}_permission"
    return check


def acting_user_id(request: HttpRequest) -> int:
    """The id of the logged-in person acting in the admin (the admin never serves anonymous users)."""
    user_id = request.user.pk
    if user_id is None:
        raise PermissionError("An admin action needs a logged-in user.")
    return int(user_id)
