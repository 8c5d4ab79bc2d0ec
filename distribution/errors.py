"""Refusals of the distribution app, each with a stable code."""

from __future__ import annotations

from songforge.errors import Conflict, DomainError, NotFound


class ReleaseNotFound(NotFound):
    code = "release_not_found"


class GenerationNotPublishable(Conflict):
    code = "generation_not_publishable"


class InvalidArtwork(DomainError):
    code = "invalid_artwork"


class InvalidReleaseMetadata(DomainError):
    code = "invalid_release_metadata"


class IsrcExhausted(Conflict):
    code = "isrc_exhausted"


class IllegalReleaseTransition(Conflict):
    code = "illegal_release_transition"


class InvalidWebhookBody(DomainError):
    code = "invalid_webhook_body"


class InvalidWebhookSignature(DomainError):
    code = "invalid_webhook_signature"
    http_status = 403
