from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from catalog.errors import RecordingInvalid, SharesInvalid
from catalog.models import Recording, RecordingShare, RightsHolder, ShareChange
from catalog.selectors import recording_holders
from catalog.services import (
    escrow_holder,
    recording_shares_set,
    recording_upsert,
    recordings_mark_rights_verified,
)

pytestmark = pytest.mark.django_db


def shares_of(recording: Recording, side: str) -> list[tuple[str, int]]:
    return [
        (s.holder.name, s.share_bps)
        for s in RecordingShare.objects.filter(recording=recording, side=side).order_by("holder_id")
    ]


def test_it_sets_a_side_and_records_who_changed_it(recording, holders):
    staff = get_user_model().objects.create_user("staff", "staff@example.com", "pw")
    _, writer, publisher = holders
    change = recording_shares_set(
        recording_id=recording.id,
        side="publishing",
        shares=[(writer.id, 6700), (publisher.id, 3300)],
        by_user_id=staff.id,
    )
    assert change is not None
    assert change.changed_by == staff
    assert change.old_shares == []
    assert change.new_shares == [
        {"holder_id": writer.id, "holder": "Ann Writer", "share_bps": 6700},
        {"holder_id": publisher.id, "holder": "Blue Publishing", "share_bps": 3300},
    ]
    assert shares_of(recording, "publishing") == [("Ann Writer", 6700), ("Blue Publishing", 3300)]
    recording.refresh_from_db()
    assert recording.rights_status == "unknown"  # master still unknown
    assert recording.is_rights_complete is False


def test_it_marks_complete_when_both_sides_sum_to_10000(recording, holders):
    label, writer, _ = holders
    recording_shares_set(recording_id=recording.id, side="master", shares=[(label.id, 10_000)], by_user_id=None)
    recording_shares_set(recording_id=recording.id, side="publishing", shares=[(writer.id, 10_000)], by_user_id=None)
    recording.refresh_from_db()
    assert recording.rights_status == "complete"
    assert recording.is_rights_complete is True


@pytest.mark.parametrize(
    ("bps", "message"),
    [
        (
            (6000, 3000),
            "The publishing shares add up to 9000 basis points (90.00%); they must add up to exactly 10,000",
        ),
        (
            (6000, 5000),
            "The publishing shares add up to 11000 basis points (110.00%); they must add up to exactly 10,000",
        ),
    ],
)
def test_it_refuses_shares_that_do_not_sum_to_10000(recording, holders, bps, message):
    _, writer, publisher = holders
    recording_shares_set(recording_id=recording.id, side="publishing", shares=[(writer.id, 10_000)], by_user_id=None)
    with pytest.raises(SharesInvalid) as excinfo:
        recording_shares_set(
            recording_id=recording.id,
            side="publishing",
            shares=[(writer.id, bps[0]), (publisher.id, bps[1])],
            by_user_id=None,
        )
    assert excinfo.value.message.startswith(message)
    assert excinfo.value.extra == {"side": "publishing", "total_bps": sum(bps)}
    assert shares_of(recording, "publishing") == [("Ann Writer", 10_000)]
    assert ShareChange.objects.count() == 1


def test_it_refuses_a_holder_twice_and_zero_shares(recording, holders):
    _, writer, _ = holders
    with pytest.raises(SharesInvalid, match="appears twice"):
        recording_shares_set(
            recording_id=recording.id, side="master", shares=[(writer.id, 5000), (writer.id, 5000)], by_user_id=None
        )
    with pytest.raises(SharesInvalid, match="from 1 to 10,000"):
        recording_shares_set(
            recording_id=recording.id, side="master", shares=[(writer.id, 0), (holders[0].id, 10_000)], by_user_id=None
        )
    with pytest.raises(SharesInvalid, match="is not master or publishing"):
        recording_shares_set(recording_id=recording.id, side="sync", shares=[(writer.id, 10_000)], by_user_id=None)
    assert RecordingShare.objects.count() == 0
    assert ShareChange.objects.count() == 0


def test_it_writes_no_history_when_nothing_changes(recording, holders):
    label = holders[0]
    recording_shares_set(recording_id=recording.id, side="master", shares=[(label.id, 10_000)], by_user_id=None)
    again = recording_shares_set(recording_id=recording.id, side="master", shares=[(label.id, 10_000)], by_user_id=None)
    assert again is None
    assert ShareChange.objects.count() == 1


def test_a_change_after_verification_needs_verifying_again(recording, holders):
    label, writer, publisher = holders
    recording_shares_set(recording_id=recording.id, side="master", shares=[(label.id, 10_000)], by_user_id=None)
    recording_shares_set(recording_id=recording.id, side="publishing", shares=[(writer.id, 10_000)], by_user_id=None)
    assert recordings_mark_rights_verified(recording_ids=[recording.id], by_user_id=None) == 1
    recording.refresh_from_db()
    assert recording.rights_status == "verified"
    recording_shares_set(
        recording_id=recording.id, side="publishing", shares=[(writer.id, 5000), (publisher.id, 5000)], by_user_id=None
    )
    recording.refresh_from_db()
    assert recording.rights_status == "complete"
    assert recording.rights_verified_at is None


def test_verifying_skips_recordings_with_unknown_holders(recording):
    assert recordings_mark_rights_verified(recording_ids=[recording.id], by_user_id=None) == 0
    recording.refresh_from_db()
    assert recording.rights_status == "unknown"


def test_there_is_one_escrow_holder():
    first = escrow_holder()
    second = escrow_holder()
    assert first.pk == second.pk
    assert RightsHolder.objects.filter(kind="escrow").count() == 1


def test_unknown_sides_go_to_escrow(recording, holders):
    label = holders[0]
    recording_shares_set(recording_id=recording.id, side="master", shares=[(label.id, 10_000)], by_user_id=None)
    result = recording_holders(recording.id)
    escrow = escrow_holder()
    assert [(h.holder_id, h.share_bps, h.is_escrow) for h in result.master] == [(label.id, 10_000, False)]
    assert [(h.holder_id, h.share_bps, h.is_escrow) for h in result.publishing] == [(escrow.id, 10_000, True)]
    assert result.is_rights_complete is False


def test_upsert_changes_nothing_when_values_are_equal(recording):
    again, changed = recording_upsert(external_id="rec-1", title="Blue Moon", artist="Ella Example", album="Nights")
    assert (again.pk, changed) == (recording.pk, False)
    assert again.search_text == "blue moon ella example nights"


def test_upsert_refuses_a_malformed_isrc(recording):
    with pytest.raises(RecordingInvalid) as excinfo:
        recording_upsert(external_id="rec-1", isrc="12-bad")
    assert excinfo.value.extra["field"] == "isrc"
    recording.refresh_from_db()
    assert recording.isrc is None


@pytest.mark.postgres
def test_postgres_refuses_a_bad_sum_written_around_the_service(postgres_db, recording, holders):
    from django.db import IntegrityError, connection, transaction

    label, writer, _ = holders
    recording_shares_set(recording_id=recording.id, side="master", shares=[(label.id, 10_000)], by_user_id=None)

    def write_around_the_service() -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            RecordingShare.objects.filter(recording=recording).update(share_bps=9999)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    with pytest.raises(IntegrityError, match=r"master shares of recording \d+ add up to 9999 bps, not 10000"):
        write_around_the_service()
    assert list(RecordingShare.objects.values_list("share_bps", flat=True)) == [10_000]
    with transaction.atomic():  # replacing a side inside one transaction passes the deferred check
        recording_shares_set(
            recording_id=recording.id, side="master", shares=[(label.id, 4000), (writer.id, 6000)], by_user_id=None
        )
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert sorted(RecordingShare.objects.values_list("share_bps", flat=True)) == [4000, 6000]


def test_holders_per_side_are_listed_in_holder_order(recording, holders):
    from catalog.selectors import holder_recordings

    label, writer, publisher = holders
    recording_shares_set(recording_id=recording.id, side="master", shares=[(label.id, 10_000)], by_user_id=None)
    recording_shares_set(
        recording_id=recording.id, side="publishing", shares=[(publisher.id, 3300), (writer.id, 6700)], by_user_id=None
    )
    result = recording_holders(recording.id)
    assert [(h.holder_name, h.share_bps) for h in result.side("publishing")] == [
        ("Ann Writer", 6700),
        ("Blue Publishing", 3300),
    ]
    assert result.is_rights_complete is True
    assert list(holder_recordings(writer.id)) == [recording]
    assert list(holder_recordings(label.id)) == [recording]
