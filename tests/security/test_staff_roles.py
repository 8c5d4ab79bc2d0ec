"""Finding 1 (roles): the label's staff roles exist as groups with exactly the permissions of ``staff.roles``.

Attack: a role quietly grows (a migration or a hand edit gives the approver the right to
pay, or the auditor a change permission). The database is compared with the code.
"""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import Group, Permission

from staff import roles

migration = importlib.import_module("staff.migrations.0003_label_roles")


def names(permissions) -> set[str]:
    return {f"{p.content_type.app_label}.{p.codename}" for p in permissions.select_related("content_type")}


def test_the_migration_froze_the_roles_of_the_code():
    assert migration.ROLES == roles.ROLES
    assert migration.AUDITED_APPS == roles.AUDITED_APPS


@pytest.mark.django_db
@pytest.mark.parametrize("role", [roles.RIGHTS_MANAGER, roles.ROYALTY_ACCOUNTANT, roles.PAYOUT_APPROVER])
def test_each_role_holds_exactly_its_permissions(role):
    assert names(Group.objects.get(name=role).permissions) == set(roles.ROLES[role])


@pytest.mark.django_db
def test_the_auditor_reads_everything_and_changes_nothing():
    held = names(Group.objects.get(name=roles.READ_ONLY_AUDITOR).permissions)
    every_view = names(
        Permission.objects.filter(content_type__app_label__in=roles.AUDITED_APPS, codename__startswith="view_")
    )
    assert held == every_view
    assert "staff.view_auditevent" in held


@pytest.mark.django_db
def test_no_single_role_can_both_create_or_pay_and_approve_a_run():
    approving = {
        group.name for group in Group.objects.filter(permissions__codename="approve_payoutrun", name__in=roles.ROLES)
    }
    paying_or_creating = {
        group.name
        for group in Group.objects.filter(
            permissions__codename__in=["pay_payoutrun", "add_payoutrun"], name__in=roles.ROLES
        )
    }
    assert approving == {roles.PAYOUT_APPROVER}
    assert approving & paying_or_creating == set()


@pytest.mark.django_db
def test_every_custom_permission_is_held_by_some_role():
    custom = {
        "catalog.verify_rights",
        "catalog.change_payout_details",
        "catalog.link_holder_user",
        "generation.link_training_recording",
        "distribution.take_down_release",
        "distribution.deliver_release",
        "royalties.import_statement",
        "royalties.reapply_suspense",
        "royalties.approve_payoutrun",
        "royalties.pay_payoutrun",
    }
    granted = {name for permissions in roles.ROLES.values() for name in permissions}
    assert custom <= granted
    assert all(
        Permission.objects.filter(content_type__app_label=n.split(".")[0], codename=n.split(".")[1]).exists()
        for n in custom
    )


@pytest.mark.django_db
def test_escrow_claims_are_decided_by_their_own_group_and_read_by_the_auditor():
    reviewer = names(Group.objects.get(name="Escrow claim reviewer").permissions)
    assert reviewer == {
        "royalties.view_escrowclaim",
        "royalties.decide_escrowclaim",
        "catalog.view_recording",
        "catalog.view_rightsholder",
    }
    assert "royalties.view_escrowclaim" in names(Group.objects.get(name=roles.READ_ONLY_AUDITOR).permissions)
    assert not Group.objects.filter(name__in=roles.ROLES, permissions__codename="decide_escrowclaim").exists()
