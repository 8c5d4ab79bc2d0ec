"""Refusals of the catalog app."""

from __future__ import annotations

from songforge.errors import DomainError, ServiceUnavailable


class SharesInvalid(DomainError):
    code = "shares_invalid"


class RecordingInvalid(DomainError):
    code = "recording_invalid"


class ManifestInvalid(DomainError):
    """A manifest entry is wrong; ``extra`` names the entry id and the field."""

    code = "manifest_invalid"


class AppleMusicNotConfigured(DomainError):
    """Apple Music refused our developer token (401/403) or credentials are missing."""

    code = "apple_music_not_configured"


class AppleMusicUnavailable(ServiceUnavailable):
    code = "apple_music_unavailable"


class AppleMusicError(DomainError):
    code = "apple_music_error"


class IdentificationUnavailable(ServiceUnavailable):
    """A step of the identification chain (Shazam) cannot answer right now; a later retry may."""

    code = "identification_unavailable"


class AudioUnreadable(DomainError):
    """The audio handed to identification could not be decoded."""

    code = "audio_unreadable"
