"""Errors of the uploads app: why a song was refused, or why an upload cannot change state."""

from __future__ import annotations

from rest_framework import status

from songforge.errors import Conflict, DomainError


class UploadError(DomainError):
    code = "upload_error"


class UploadSetFullError(UploadError):
    code = "upload_set_full"
    http_status = status.HTTP_409_CONFLICT


class UploadTooLargeError(UploadError):
    code = "upload_too_large"
    http_status = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


class UploadTooLongError(UploadError):
    """The song runs longer than ``UPLOAD_MAX_SECONDS`` (declared by its header, or found decoding it)."""

    code = "upload_too_long"
    http_status = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE


class UnsupportedAudioError(UploadError):
    code = "unsupported_audio"
    http_status = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE


class CorruptAudioError(UploadError):
    code = "corrupt_audio"


class DuplicateUploadError(UploadError):
    code = "duplicate_upload"
    http_status = status.HTTP_409_CONFLICT


class UploadStateError(Conflict):
    code = "upload_state"


class ClaimReviewError(UploadError):
    """A match claim cannot be decided (already decided, own claim, no permission, no reason)."""

    code = "claim_review"
    http_status: int = status.HTTP_409_CONFLICT


class ClaimReviewForbiddenError(ClaimReviewError):
    code = "claim_review_forbidden"
    http_status: int = status.HTTP_403_FORBIDDEN


class EmailNotVerifiedError(UploadError):
    code = "email_not_verified"
    http_status: int = status.HTTP_403_FORBIDDEN
