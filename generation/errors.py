"""Errors of the generation app (each a DomainError: a code and a message a person can act on)."""

from __future__ import annotations

from rest_framework import status

from songforge.errors import Conflict, DomainError


class GenerationError(DomainError):
    code = "generation_error"


class ModelMissingError(GenerationError):
    """The committed catalog model (or its side files) is not on disk."""

    code = "model_missing"


class UploadSetNotReadyError(GenerationError):
    code = "upload_set_not_ready"
    http_status = status.HTTP_409_CONFLICT


class GenerationStateError(Conflict):
    code = "generation_state"


class NotOriginalError(GenerationError):
    """Every composed candidate copied too many consecutive notes from a source."""

    code = "not_original"


class InfluenceInvalidError(GenerationError):
    """Influence weights that cannot become a generation's shares of the source pool."""

    code = "influence_invalid"


# --- uploads and identification (issue 5) ------------------------------------------------------


class UploadError(DomainError):
    code = "upload_error"


class UploadSetFullError(UploadError):
    code = "upload_set_full"
    http_status = status.HTTP_409_CONFLICT


class UploadTooLargeError(UploadError):
    code = "upload_too_large"
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
