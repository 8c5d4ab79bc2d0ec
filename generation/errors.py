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


class TrainingLinkInvalid(GenerationError):
    """A training item cannot be linked to the recording named."""

    code = "training_link_invalid"


class GenerationLimitError(GenerationError):
    """Too many generations: one already runs for the set, or the artist's daily allowance is used up."""

    code = "generation_limit"
    http_status = status.HTTP_429_TOO_MANY_REQUESTS


class GenerationRequestError(GenerationError):
    """A generation asked for with values it cannot have (a length or a number of takes out of range)."""

    code = "generation_request_invalid"


class TakeNotKeptError(GenerationStateError):
    """A take cannot be kept now (the song is not finished, or another take is already published)."""

    code = "take_not_kept"
