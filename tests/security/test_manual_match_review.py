"""Finding 5: any artist could make a pure 440 Hz tone "matched/manual" to any recording and so be
paid from... no: make that recording's holders paid from the new song. A hand-picked match is now
a claim that needs evidence and another person's review before the set can generate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from django.urls import reverse

from generation.errors import UploadSetNotReadyError
from generation.models import Generation
from generation.services import generation_start
from tests.security.conftest import grant
from tests.uploads.conftest import encode, uploaded
from tests.web.conftest import make_upload
from uploads import services
from uploads.errors import ClaimReviewError, ClaimReviewForbiddenError
from uploads.models import MatchClaim, Upload, UploadSet

pytestmark = pytest.mark.django_db


def tone(seconds: float = 3.0, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * math.pi * 440.0 * t)).astype(np.float32)


@pytest.fixture
def tone_upload(owner, django_capture_on_commit_callbacks):
    upload_set = services.upload_set_create(owner_id=owner.pk)
    upload = services.upload_add(
        upload_set_id=upload_set.pk, owner_id=owner.pk, file=uploaded("tone.flac", encode(tone(), "flac"))
    )
    services.upload_identify(upload_id=upload.pk)  # the local chain knows no such song
    upload.refresh_from_db()
    assert upload.status == Upload.Status.UNMATCHED
    return upload


@pytest.fixture
def nine_matched_and_the_tone(tone_upload, recordings):
    for index, recording in enumerate(recordings[:9]):
        make_upload(tone_upload.upload_set, index, status=Upload.Status.MATCHED, recording=recording)
    return tone_upload


def test_a_tone_matched_by_hand_waits_for_review_and_the_set_cannot_generate(
    owner, owner_api, nine_matched_and_the_tone, recordings
):
    upload = nine_matched_and_the_tone
    response = owner_api.post(
        reverse("api-upload-match", args=[upload.pk]), {"recording_id": recordings[9].pk}, format="json"
    )
    assert response.status_code == 202
    assert response.json()["status"] == "review"
    claim = MatchClaim.objects.get(upload=upload)
    assert (claim.status, claim.recording_id, claim.claimed_by_id) == ("pending", recordings[9].pk, owner.pk)
    assert claim.evidence["identification"] == "nothing_found"
    readiness = owner_api.get(reverse("api-upload-set-readiness", args=[upload.upload_set_id])).json()
    assert readiness["is_ready"] is False
    assert readiness["reasons"] == [
        "tone.flac is waiting for review: SongForge staff check a match picked by hand before the set can generate."
    ]
    with pytest.raises(UploadSetNotReadyError):
        generation_start(upload_set_id=upload.upload_set_id, owner_id=owner.pk)
    assert not Generation.objects.exists()


def test_the_set_page_says_waiting_for_review(client, owner, nine_matched_and_the_tone, recordings):
    services.upload_match_claim(
        upload_id=nine_matched_and_the_tone.pk, recording_id=recordings[9].pk, owner_id=owner.pk
    )
    client.force_login(owner)
    html = client.get(reverse("uploads:upload_set_detail", args=[nine_matched_and_the_tone.upload_set_id])).content
    assert b"Waiting for review" in html
    assert b'id="generate-button" disabled' in html


@pytest.mark.parametrize("state", [Upload.Status.IDENTIFYING, Upload.Status.FAILED])
def test_a_claim_without_evidence_is_refused(owner, owner_api, recordings, state):
    upload_set = UploadSet.objects.create(owner=owner)
    upload = make_upload(upload_set, 0, status=state)
    response = owner_api.post(
        reverse("api-upload-match", args=[upload.pk]), {"recording_id": recordings[0].pk}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "upload_state"
    assert "only after identification has finished" in response.json()["message"]
    assert not MatchClaim.objects.exists()
    assert Upload.objects.get(pk=upload.pk).status == state


def test_the_claimant_cannot_approve_their_own_claim(owner, tone_upload, recordings):
    owner.is_staff = True
    owner.save()
    owner = grant(owner, "review_matchclaim")
    claim = services.upload_match_claim(upload_id=tone_upload.pk, recording_id=recordings[0].pk, owner_id=owner.pk)
    with pytest.raises(ClaimReviewError) as refused:
        services.match_claim_approve(claim_id=claim.pk, reviewer_id=owner.pk)
    assert refused.value.code == "claim_review_own"
    assert Upload.objects.get(pk=tone_upload.pk).status == Upload.Status.REVIEW


def test_staff_without_the_review_permission_cannot_approve(
    owner, tone_upload, recordings, staff_without_permissions, client
):
    claim = services.upload_match_claim(upload_id=tone_upload.pk, recording_id=recordings[0].pk, owner_id=owner.pk)
    with pytest.raises(ClaimReviewForbiddenError):
        services.match_claim_approve(claim_id=claim.pk, reviewer_id=staff_without_permissions.pk)
    client.force_login(staff_without_permissions)
    review_url = reverse("admin:uploads_matchclaim_review", args=[claim.pk])
    assert client.post(review_url, {"approve": "1"}).status_code == 403
    assert client.get(reverse("admin:uploads_matchclaim_audio", args=[claim.pk, "upload"])).status_code == 403
    assert MatchClaim.objects.get(pk=claim.pk).status == "pending"
    assert Upload.objects.get(pk=tone_upload.pk).status == Upload.Status.REVIEW


def test_a_reviewer_listens_to_both_and_rejects_with_a_reason(
    owner, owner_api, tone_upload, make_recording, reviewer, client
):
    recording = make_recording(7)  # with catalog audio
    claim = services.upload_match_claim(upload_id=tone_upload.pk, recording_id=recording.pk, owner_id=owner.pk)
    client.force_login(reviewer)
    queue = client.get(reverse("admin:uploads_matchclaim_changelist")).content.decode()
    assert "Listen and decide" in queue
    page = client.get(reverse("admin:uploads_matchclaim_review", args=[claim.pk])).content.decode()
    assert page.count("<audio controls") == 2
    for which in ("upload", "recording"):
        audio = client.get(reverse("admin:uploads_matchclaim_audio", args=[claim.pk, which]))
        assert audio.status_code == 200
        assert b"".join(audio.streaming_content)[:4] in (b"fLaC", b"RIFF")
    response = client.post(
        reverse("admin:uploads_matchclaim_review", args=[claim.pk]),
        {"reject": "1", "note": "The upload is a test tone, not this song."},
    )
    assert response.status_code == 302
    claim.refresh_from_db()
    assert (claim.status, claim.reviewed_by_id, claim.review_note) == (
        "rejected",
        reviewer.pk,
        "The upload is a test tone, not this song.",
    )
    body = owner_api.get(reverse("api-upload-detail", args=[tone_upload.pk])).json()
    assert (body["status"], body["recording"]) == ("unmatched", None)
    assert body["failure_reason"] == "Your match was not accepted: The upload is a test tone, not this song."


def test_a_rejection_needs_a_reason(owner, tone_upload, recordings, reviewer):
    claim = services.upload_match_claim(upload_id=tone_upload.pk, recording_id=recordings[0].pk, owner_id=owner.pk)
    with pytest.raises(ClaimReviewError) as refused:
        services.match_claim_reject(claim_id=claim.pk, reviewer_id=reviewer.pk, note="  ")
    assert refused.value.code == "claim_reason_missing"
    assert MatchClaim.objects.get(pk=claim.pk).status == "pending"


def test_an_approved_claim_matches_and_is_decided_once(owner, tone_upload, recordings, reviewer, client):
    claim = services.upload_match_claim(upload_id=tone_upload.pk, recording_id=recordings[0].pk, owner_id=owner.pk)
    client.force_login(reviewer)
    response = client.post(
        reverse("admin:uploads_matchclaim_changelist"),
        {"action": "approve", "_selected_action": [claim.pk]},
    )
    assert response.status_code == 302
    upload = Upload.objects.get(pk=tone_upload.pk)
    assert (upload.status, upload.recording_id, upload.match_method) == ("matched", recordings[0].pk, "manual")
    with pytest.raises(ClaimReviewError):
        services.match_claim_reject(claim_id=claim.pk, reviewer_id=reviewer.pk, note="changed my mind")
    assert MatchClaim.objects.get(pk=claim.pk).status == "approved"


def test_the_match_reviewer_group_can_decide_claims(owner, tone_upload, recordings, staff_without_permissions):
    from django.contrib.auth.models import Group

    staff_without_permissions.groups.add(Group.objects.get(name="Match reviewer"))
    claim = services.upload_match_claim(upload_id=tone_upload.pk, recording_id=recordings[0].pk, owner_id=owner.pk)
    services.match_claim_approve(claim_id=claim.pk, reviewer_id=staff_without_permissions.pk)
    assert Upload.objects.get(pk=tone_upload.pk).status == Upload.Status.MATCHED
