"""Findings 1 and 2: staff may do only what their role's permissions allow, in the admin and in the API.

Attack: a staff account holding only view permissions (the auditor) or no permission at
all forces admin actions and staff API calls. Every one is refused and changes nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver

from distribution.models import DeliveryEvent
from royalties.imports import rows_to_csv
from royalties.models import LineGroup, PayoutRun, Statement, StatementUpload, Transaction
from songforge.permissions import HolderOrStaffPermission, StaffPermission
from tests.factories import RecordingWithSharesFactory, ReleaseFactory
from tests.royalties.conftest import line
from tests.security.staff_fixtures import (  # noqa: F401 (fixtures)
    action,
    admin_as,
    api_as,
    people,
    private_data_dir,
    run,
    statement_file,
    world,
)

STAFF_CLASSES = (StaffPermission, HolderOrStaffPermission)
STAFF_APPS = {"catalog", "uploads", "generation", "royalties", "distribution", "staff"}


def registered_admins() -> list[Any]:
    return [ma for model, ma in admin.site._registry.items() if model._meta.app_label in STAFF_APPS]


def test_every_admin_action_declares_its_permissions():
    undeclared = [
        f"{type(model_admin).__name__}.{name}"
        for model_admin in registered_admins()
        for name in (model_admin.actions or ())
        if not getattr(getattr(model_admin, name) if isinstance(name, str) else name, "allowed_permissions", ())
    ]
    assert undeclared == []


def test_every_declared_action_permission_has_its_check():
    missing = [
        f"{type(model_admin).__name__}.has_{permission}_permission"
        for model_admin in registered_admins()
        for name in (model_admin.actions or ())
        for permission in getattr(getattr(model_admin, name), "allowed_permissions", ())
        if not hasattr(model_admin, f"has_{permission}_permission")
    ]
    assert missing == []


@pytest.mark.django_db
def test_a_view_only_auditor_is_offered_no_action_anywhere(people):
    request = RequestFactory().post("/admin/")
    request.user = people["auditor"]
    offered = {type(ma).__name__: list(ma.get_actions(request)) for ma in registered_admins()}
    assert {name: actions for name, actions in offered.items() if actions} == {}


def test_a_view_only_staff_member_forcing_approve_moves_no_money(run, people, admin_as):
    transactions = Transaction.objects.count()
    response = action(admin_as(people["auditor"]), "royalties.payoutrun", "approve", [run.pk])
    assert response.status_code == 200  # the changelist again, with "No action selected."
    run.refresh_from_db()
    assert (run.status, run.approved_by_id) == ("draft", None)
    assert Transaction.objects.count() == transactions
    assert not run.payouts.filter(paid_at__isnull=False).exists()


def test_a_view_only_staff_member_forcing_mark_paid_pays_nothing(run, people, admin_as):
    run.status = "approved"  # as if approved: paying still needs pay_payoutrun
    run.approved_by = people["approver"]
    run.save(update_fields=["status", "approved_by"])
    transactions = Transaction.objects.count()
    for who in ("auditor", "approver"):
        action(admin_as(people[who]), "royalties.payoutrun", "mark_paid", [run.pk], payment_reference="X")
    run.refresh_from_db()
    assert (run.status, run.payment_reference) == ("approved", "")
    assert Transaction.objects.count() == transactions


def test_a_view_only_staff_member_forcing_take_down_writes_nothing(db, people, admin_as):
    release = ReleaseFactory.create(status="delivered")
    response = action(admin_as(people["auditor"]), "distribution.release", "take_down", [release.pk])
    assert response.status_code == 200
    release.refresh_from_db()
    assert release.status == "delivered"
    assert not DeliveryEvent.objects.filter(release=release, kind="takedown").exists()


def test_the_rights_manager_may_take_down(db, people, admin_as):
    release = ReleaseFactory.create()  # a draft: the service refuses, which proves the action ran
    response = action(admin_as(people["rights"]), "distribution.release", "take_down", [release.pk])
    assert "only a delivered release can be taken down" in response.content.decode()


def test_verifying_rights_needs_verify_rights(db, people, admin_as):
    recording = RecordingWithSharesFactory.create(rights_status="complete")
    for who in ("auditor", "accountant"):
        action(admin_as(people[who]), "catalog.recording", "mark_rights_verified", [recording.pk])
        recording.refresh_from_db()
        assert recording.rights_status == "complete", who
    action(admin_as(people["rights"]), "catalog.recording", "mark_rights_verified", [recording.pk])
    recording.refresh_from_db()
    assert (recording.rights_status, recording.rights_verified_by_id) == ("verified", people["rights"].pk)
    entry = LogEntry.objects.get(object_id=str(recording.pk))
    assert (entry.user_id, entry.change_message) == (people["rights"].pk, "Marked rights verified.")


def test_reapplying_suspense_needs_reapply_suspense(run, people, admin_as, statement_file):
    from royalties.imports import statement_import
    from royalties.splits import split_sheet_create

    statement_import(path=statement_file([line(isrc="QZS8F2655555", revenue="1.00")], name="s2.csv"))
    group = LineGroup.objects.get(state="suspense")
    release = ReleaseFactory.create(isrc=group.isrc)
    split_sheet_create(release_id=release.pk, sources=[], training=[])
    action(admin_as(people["auditor"]), "royalties.linegroup", "reapply", [group.pk])
    group.refresh_from_db()
    assert group.state == "suspense"
    action(admin_as(people["accountant"]), "royalties.linegroup", "reapply", [group.pk])
    group.refresh_from_db()
    assert group.state == "allocated"


# --- Staff API -------------------------------------------------------------------------------------------------


def api_views() -> list[Any]:
    views = []

    def walk(patterns: list[Any]) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern) and hasattr(pattern.callback, "view_class"):
                views.append(pattern.callback.view_class)

    walk(get_resolver().url_patterns)
    return views


def test_every_staff_api_view_names_a_permission_per_method():
    staff_views = [
        view
        for view in api_views()
        if any(
            issubclass(c, (StaffPermission, HolderOrStaffPermission)) for c in getattr(view, "permission_classes", [])
        )
    ]
    assert len(staff_views) >= 7
    for view in staff_views:
        methods = {m.upper() for m in view.http_method_names if hasattr(view, m) and m not in ("options", "head")}
        assert methods <= set(view.staff_permissions), view.__name__


def test_no_api_view_trusts_is_staff_alone():
    from rest_framework.permissions import IsAdminUser

    trusting = [
        view.__name__
        for view in api_views()
        if any(issubclass(c, IsAdminUser) for c in getattr(view, "permission_classes", []))
    ]
    assert trusting == []


def statement_body() -> bytes:
    return rows_to_csv([line(revenue="5.00")]).encode()


def test_staff_with_zero_permissions_cannot_import_a_statement(world, people):
    client = api_as(people["nobody"])
    response = client.post(
        "/api/royalties/imports/", {"file": SimpleUploadedFile("x.csv", statement_body())}, format="multipart"
    )
    assert response.status_code == 403
    response = client.post(
        "/api/royalties/uploads/", {"file": SimpleUploadedFile("y.csv", statement_body())}, format="multipart"
    )
    assert response.status_code == 403
    assert (Statement.objects.count(), StatementUpload.objects.count(), Transaction.objects.count()) == (0, 0, 0)


def test_staff_with_zero_permissions_reads_no_holder_money(run, people):
    client = api_as(people["nobody"])
    for url in (
        "/api/royalties/payouts/",
        "/api/royalties/earnings/",
        "/api/royalties/statements/",
        "/api/royalties/statements/2026-10.csv?holder=1",
    ):
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize("who", ["approver", "rights"])
def test_other_roles_cannot_import(world, people, who):
    response = api_as(people[who]).post(
        "/api/royalties/imports/", {"file": SimpleUploadedFile("x.csv", statement_body())}, format="multipart"
    )
    assert response.status_code == 403
    assert Statement.objects.count() == 0


def test_the_accountant_imports_and_reads_payouts(run, people):
    client = api_as(people["accountant"])
    response = client.post(
        "/api/royalties/imports/", {"file": SimpleUploadedFile("x.csv", statement_body())}, format="multipart"
    )
    assert response.status_code == 201
    payouts = client.get("/api/royalties/payouts/").json()
    assert sorted(row["amount_minor"] for row in payouts["results"]) == [660, 670, 670]


def test_the_rights_manager_reads_no_payouts(run, people):
    assert api_as(people["rights"]).get("/api/royalties/payouts/").status_code == 403


def test_a_holder_still_reads_its_own_payouts(run, world, people):
    from tests.factories import UserFactory

    owner = UserFactory.create(username="label-owner")
    world.label.user = owner
    world.label.save(update_fields=["user"])
    response = api_as(owner).get("/api/royalties/payouts/")
    assert response.status_code == 200
    assert [row["amount_minor"] for row in response.json()["results"]] == [670]


def test_a_zero_permission_staff_member_sees_no_payout_run_in_the_admin(run, people, admin_as):
    assert admin_as(people["nobody"]).get("/admin/royalties/payoutrun/").status_code == 403
    assert admin_as(people["nobody"]).get("/admin/staff/auditevent/").status_code == 403
    assert PayoutRun.objects.filter(status="draft").count() == 1
