"""Finding 4: changes next to money leave a trail nobody can edit, and rights rows cannot vanish.

Attacks: staff re-link a holder to another account (whose token would then read the
holder's statements), change its payout details, or point a training item at another
recording; someone deletes a recording with shares, edits share history or a split
sheet, or edits/deletes the audit trail itself. Each is refused or recorded.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from django.contrib.auth.models import Permission
from django.db import IntegrityError, InternalError, connection, transaction
from django.db.models import ProtectedError

from catalog.models import Recording, RecordingShare, RightsHolder, ShareChange
from catalog.services import recording_shares_set
from generation.models import TrainingRecording
from royalties.models import SplitSheet, SplitSheetLine
from royalties.splits import split_sheet_create
from staff.models import AuditEvent
from staff.roles import ROYALTY_ACCOUNTANT
from tests.factories import RecordingWithSharesFactory, ReleaseFactory, RightsHolderFactory, UserFactory
from tests.roles import staff_user
from tests.security.staff_fixtures import admin_as, people  # noqa: F401 (fixtures)

# What a refused write raises: SQLite's RAISE(ABORT) and PostgreSQL's check_violation (23514).
REFUSED = (IntegrityError, InternalError)


def holder_form(holder: RightsHolder, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": holder.name,
        "kind": holder.kind,
        "contact_email": holder.contact_email,
        "payout_details": holder.payout_details,
        "user": holder.user_id or "",
    }
    data.update(changes)
    return data


@pytest.fixture
def holder(db):
    return RightsHolderFactory.create(name="North Label", payout_details="IBAN DE00 1111", user=UserFactory.create())


def test_change_rightsholder_alone_cannot_relink_a_holder_or_redirect_its_money(holder, admin_as):
    clerk = staff_user("clerk")
    clerk.user_permissions.add(*_permissions("catalog.view_rightsholder", "catalog.change_rightsholder"))
    thief = UserFactory.create(username="thief")
    before = (holder.user_id, holder.payout_details)
    response = admin_as(clerk).post(
        f"/admin/catalog/rightsholder/{holder.pk}/change/",
        holder_form(holder, user=thief.pk, payout_details="IBAN XX99 6666", contact_email="x@example.com"),
    )
    assert response.status_code == 302
    holder.refresh_from_db()
    assert (holder.user_id, holder.payout_details) == before
    assert holder.contact_email == "x@example.com"  # the plain field did save
    assert not AuditEvent.objects.exists()


def test_a_relink_and_a_payout_details_change_are_audited_with_old_and_new_values(holder, people, admin_as):
    rights, accountant = people["rights"], people["accountant"]
    new_user = UserFactory.create(username="label-owner")
    old_user_id = holder.user_id
    admin_as(rights).post(f"/admin/catalog/rightsholder/{holder.pk}/change/", holder_form(holder, user=new_user.pk))
    holder.refresh_from_db()
    admin_as(accountant).post(
        f"/admin/catalog/rightsholder/{holder.pk}/change/", holder_form(holder, payout_details="IBAN DE00 2222")
    )
    holder.refresh_from_db()
    assert (holder.user_id, holder.payout_details) == (new_user.pk, "IBAN DE00 2222")
    trail = AuditEvent.objects.filter(object_type="catalog.rightsholder", object_id=str(holder.pk)).order_by("pk")
    assert [(e.actor_id, e.action, e.old_values, e.new_values) for e in trail] == [
        (rights.pk, "rights_holder.user_link", {"user_id": old_user_id}, {"user_id": new_user.pk}),
        (
            accountant.pk,
            "rights_holder.payout_details_set",
            {"payout_details": "IBAN DE00 1111"},
            {"payout_details": "IBAN DE00 2222"},
        ),
    ]


def test_the_rights_manager_cannot_change_payout_details(holder, people, admin_as):
    admin_as(people["rights"]).post(
        f"/admin/catalog/rightsholder/{holder.pk}/change/", holder_form(holder, payout_details="IBAN XX99 6666")
    )
    holder.refresh_from_db()
    assert holder.payout_details == "IBAN DE00 1111"


def test_a_training_link_change_needs_its_permission_and_is_audited(db, people, admin_as):
    first, second = RecordingWithSharesFactory.create(), RecordingWithSharesFactory.create()
    item = TrainingRecording.objects.create(
        source_id="lmd/1", collection="lmd", licence="CC-BY", is_commercial_ok=True, token_count=10, recording=first
    )
    form = {"title": "", "collection": "lmd", "is_commercial_ok": "on", "recording": second.pk}
    accountant = staff_user("clerk2", ROYALTY_ACCOUNTANT)
    accountant.user_permissions.add(*_permissions("generation.change_trainingrecording"))
    admin_as(accountant).post(f"/admin/generation/trainingrecording/{item.pk}/change/", form)
    item.refresh_from_db()
    assert item.recording_id == first.pk
    response = admin_as(people["rights"]).post(f"/admin/generation/trainingrecording/{item.pk}/change/", form)
    assert response.status_code == 302
    item.refresh_from_db()
    assert item.recording_id == second.pk
    event = AuditEvent.objects.get(object_type="generation.trainingrecording")
    assert (event.actor_id, event.old_values, event.new_values) == (
        people["rights"].pk,
        {"recording_id": first.pk},
        {"recording_id": second.pk},
    )


def test_a_share_change_is_audited(db, people):
    recording = RecordingWithSharesFactory.create()
    other = RightsHolderFactory.create()
    recording_shares_set(
        recording_id=recording.pk, side="master", shares=[(other.pk, 10_000)], by_user_id=people["rights"].pk
    )
    event = AuditEvent.objects.get(action="recording.shares_set")
    assert event.actor_name == "rights"
    assert [row["holder_id"] for row in event.old_values["shares"]] != [other.pk]
    assert [row["holder_id"] for row in event.new_values["shares"]] == [other.pk]


# --- The audit trail itself -----------------------------------------------------------------------------------


def test_the_audit_trail_is_readable_but_never_editable_in_the_admin(holder, people, admin_as):
    from catalog.services import rights_holder_payout_details_set

    rights_holder_payout_details_set(holder_id=holder.pk, payout_details="new", by_id=people["accountant"].pk)
    event = AuditEvent.objects.get()
    auditor = admin_as(people["auditor"])
    assert auditor.get("/admin/staff/auditevent/").status_code == 200
    assert auditor.get(f"/admin/staff/auditevent/{event.pk}/change/").status_code == 200
    assert auditor.post(f"/admin/staff/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert auditor.get("/admin/staff/auditevent/add/").status_code == 403
    superuser = UserFactory.create(username="root", is_staff=True, is_superuser=True)
    root = admin_as(superuser)
    assert root.post(f"/admin/staff/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    root.post(f"/admin/staff/auditevent/{event.pk}/change/", {"action": "changed"})
    root.post("/admin/staff/auditevent/", {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"})
    assert AuditEvent.objects.get().action == "rights_holder.payout_details_set"
    assert admin_as(people["nobody"]).get("/admin/staff/auditevent/").status_code == 403


def test_the_database_refuses_to_edit_the_audit_trail(holder, people):
    from catalog.services import rights_holder_payout_details_set

    rights_holder_payout_details_set(holder_id=holder.pk, payout_details="new", by_id=people["accountant"].pk)
    event = AuditEvent.objects.get()
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(REFUSED), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(new_values={})
    assert AuditEvent.objects.get().new_values == {"payout_details": "new"}


@pytest.mark.usefixtures("postgres_db")
def test_postgresql_refuses_to_delete_the_audit_trail(holder, people):
    from catalog.services import rights_holder_payout_details_set

    rights_holder_payout_details_set(holder_id=holder.pk, payout_details="new", by_id=people["accountant"].pk)
    with pytest.raises(REFUSED), transaction.atomic():
        AuditEvent.objects.all().delete()
    with pytest.raises(REFUSED), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM staff_auditevent")
    assert AuditEvent.objects.count() == 1


# --- Shares, share history and split sheets --------------------------------------------------------------------


def test_deleting_a_recording_does_not_take_its_shares_and_history_along(db, people):
    recording = RecordingWithSharesFactory.create()
    recording_shares_set(
        recording_id=recording.pk, side="master", shares=[(RightsHolderFactory.create().pk, 10_000)], by_user_id=None
    )
    with pytest.raises(ProtectedError):
        recording.delete()
    assert RecordingShare.objects.filter(recording=recording).count() == 2
    assert ShareChange.objects.filter(recording=recording).count() == 1
    assert Recording.objects.filter(pk=recording.pk).exists()


def test_the_database_refuses_to_rewrite_share_history(db):
    recording = RecordingWithSharesFactory.create()
    recording_shares_set(
        recording_id=recording.pk, side="master", shares=[(RightsHolderFactory.create().pk, 10_000)], by_user_id=None
    )
    change = ShareChange.objects.get()
    with pytest.raises(REFUSED), transaction.atomic():
        ShareChange.objects.filter(pk=change.pk).update(new_shares=[])
    assert ShareChange.objects.get().new_shares == change.new_shares


def test_deleting_the_user_who_changed_shares_keeps_the_history(db):
    user = UserFactory.create(username="leaver")
    recording = RecordingWithSharesFactory.create()
    recording_shares_set(
        recording_id=recording.pk, side="master", shares=[(RightsHolderFactory.create().pk, 10_000)], by_user_id=user.pk
    )
    user.delete()
    change = ShareChange.objects.get()
    assert (change.changed_by_id, len(change.new_shares)) == (None, 1)


@pytest.mark.usefixtures("postgres_db")
def test_postgresql_refuses_to_delete_share_history_or_split_sheets(db):
    recording = RecordingWithSharesFactory.create()
    recording_shares_set(
        recording_id=recording.pk, side="master", shares=[(RightsHolderFactory.create().pk, 10_000)], by_user_id=None
    )
    release = ReleaseFactory.create()
    split_sheet_create(release_id=release.pk, sources=[(recording.pk, Fraction(1))], training=[])
    for model in (ShareChange, SplitSheetLine, SplitSheet):
        with pytest.raises(REFUSED), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {model._meta.db_table}")  # noqa: S608 (fixed table names)
    assert (ShareChange.objects.count(), SplitSheet.objects.count()) == (1, 1)


def test_the_database_refuses_to_edit_a_split_sheet(db):
    recording = RecordingWithSharesFactory.create()
    release = ReleaseFactory.create()
    split_sheet_create(release_id=release.pk, sources=[(recording.pk, Fraction(1))], training=[])
    sheet = SplitSheet.objects.get()
    with pytest.raises(REFUSED), transaction.atomic():
        SplitSheet.objects.filter(pk=sheet.pk).update(source_share_bps=1)
    with pytest.raises(REFUSED), transaction.atomic():
        SplitSheetLine.objects.filter(sheet=sheet).update(ppb=1)
    assert SplitSheet.objects.get().source_share_bps == sheet.source_share_bps


def _permissions(*names: str) -> list[Permission]:
    return [
        Permission.objects.get(content_type__app_label=name.split(".")[0], codename=name.split(".")[1])
        for name in names
    ]
