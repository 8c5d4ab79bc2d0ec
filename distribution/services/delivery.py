"""Delivery and everything after it: the job's hand-off to the distributor, status updates, takedown.

Delivery runs in a job (``release_deliver_task``) because it talks to the outside world and must
not hold database locks while it does: each step locks the release, decides, and lets go before
calling the distributor.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from distribution.clients import distributor_for
from distribution.clients.base import DeliveryResult, DistributorError, RemoteStatus
from distribution.clients.platoon import is_signature_valid, parse_webhook
from distribution.errors import IllegalReleaseTransition, InvalidWebhookBody, InvalidWebhookSignature, ReleaseNotFound
from distribution.models import DeliveryEvent, Release
from distribution.selectors import release_package
from songforge.text import without_server_paths

MAX_DELIVERY_ATTEMPTS = 8


def event_log(release: Release, kind: str, status: str, detail: str) -> None:
    DeliveryEvent.objects.create(release=release, kind=kind, status=status, detail=without_server_paths(detail)[:5000])


def delivery_enqueue(release_id: int) -> None:
    """Send the release to the delivery job (call through ``transaction.on_commit``)."""
    from distribution.tasks import release_deliver_task  # tasks import this module: a true cycle

    release_deliver_task.send(release_id)


def _move(release: Release, to: str) -> None:
    """Precondition: ``release`` is locked by the caller's transaction."""
    if to not in Release.ALLOWED[release.status]:
        raise IllegalReleaseTransition(
            f"Release {release.pk} cannot go from {release.get_status_display().lower()} to "
            f"{Release.Status(to).label.lower()}.",
            extra={"from": release.status, "to": to},
        )
    release.status = to


def _locked(release_id: int) -> Release:
    release = Release.objects.select_for_update().filter(pk=release_id).first()
    if release is None:
        raise ReleaseNotFound(f"No release {release_id} exists.")
    return release


def release_deliver(*, release_id: int) -> Release:
    """Hand a queued release to its distributor; a release in any other state is left alone.

    Distributor calls are idempotent (outbox folder per ISRC, Platoon
    idempotency keys), so a duplicate job at worst repeats a no-op. A permanent
    error fails the release; a retryable one is re-raised for the job to retry
    until ``MAX_DELIVERY_ATTEMPTS``, after which the release fails too.
    """
    with transaction.atomic():
        release = _locked(release_id)
        if release.status != Release.Status.QUEUED:
            return release
        Release.objects.filter(pk=release.pk).update(delivery_attempts=F("delivery_attempts") + 1)
        release.refresh_from_db(fields=["delivery_attempts"])
        package = release_package(release=release)
    if not package.splits:
        result: DeliveryResult | DistributorError = DistributorError(
            f"Release {release_id} has no stored split sheet; it cannot be delivered without one.", permanent=True
        )
    else:
        try:
            result = distributor_for(release.distributor).deliver(package)
        except DistributorError as exc:
            result = exc
    with transaction.atomic():
        release = _locked(release_id)
        if release.status != Release.Status.QUEUED:
            return release  # a concurrent duplicate finished first
        if isinstance(result, DistributorError):
            is_last = result.permanent or release.delivery_attempts >= MAX_DELIVERY_ATTEMPTS
            if is_last:
                _move(release, Release.Status.FAILED)
                release.save(update_fields=["status", "updated_at"])
            event_log(
                release,
                DeliveryEvent.Kind.DELIVERY,
                DeliveryEvent.Outcome.FAILED if is_last else DeliveryEvent.Outcome.RETRY,
                f"attempt {release.delivery_attempts}: {result.message}",
            )
        else:
            _move(release, result.status)
            release.distributor_release_id = result.distributor_release_id
            release.outbox_path = result.location if release.distributor == Release.Distributor.OUTBOX else ""
            release.delivered_at = timezone.now()
            release.save(
                update_fields=["status", "distributor_release_id", "outbox_path", "delivered_at", "updated_at"]
            )
            event_log(
                release,
                DeliveryEvent.Kind.DELIVERY,
                DeliveryEvent.Outcome.OK,
                f"delivered to {release.get_distributor_display()} as {result.distributor_release_id}"
                + (f" at {result.location}" if result.location else "")
                + (f" ({result.detail})" if result.detail else ""),
            )
    if isinstance(result, DistributorError) and not result.permanent and release.status == Release.Status.QUEUED:
        raise result
    return release


def release_requeue(*, release_id: int) -> Release:
    """Send a failed release to its distributor again (staff action)."""
    with transaction.atomic():
        release = _locked(release_id)
        _move(release, Release.Status.QUEUED)
        release.delivery_attempts = 0
        release.save(update_fields=["status", "delivery_attempts", "updated_at"])
        event_log(release, DeliveryEvent.Kind.DELIVERY, DeliveryEvent.Outcome.OK, "queued again by staff")
        transaction.on_commit(lambda: delivery_enqueue(release.pk))
    return release


def _apply_remote_status(release: Release, remote: RemoteStatus, *, kind: str) -> Release:
    """Precondition: ``release`` is locked. Repeats and stale updates are logged and ignored."""
    if remote.status == release.status:
        changed = False
        if remote.store_links and remote.store_links != release.store_links:
            release.store_links = dict(remote.store_links)
            changed = True
        if changed:
            release.save(update_fields=["store_links", "updated_at"])
        return release
    if remote.status not in Release.ALLOWED[release.status]:
        event_log(
            release,
            kind,
            DeliveryEvent.Outcome.IGNORED,
            f"{remote.status} ignored: the release is already {release.status}",
        )
        return release
    _move(release, remote.status)
    fields = ["status", "updated_at"]
    if remote.status == Release.Status.LIVE:
        release.store_links = dict(remote.store_links)
        fields.append("store_links")
    if remote.status == Release.Status.REJECTED:
        release.rejection_reasons = list(remote.reasons)
        fields.append("rejection_reasons")
    if remote.status == Release.Status.TAKEN_DOWN:
        release.taken_down_at = timezone.now()
        fields.append("taken_down_at")
    release.save(update_fields=fields)
    detail = remote.status
    if remote.store_links:
        detail += ": " + ", ".join(f"{store} {url}" for store, url in sorted(remote.store_links.items()))
    if remote.reasons:
        detail += ": " + "; ".join(remote.reasons)
    event_log(release, kind, DeliveryEvent.Outcome.OK, detail)
    return release


def release_status_refresh(*, release_id: int) -> Release:
    """Ask the distributor for the release's status and record any change."""
    release = Release.objects.select_related("generation").filter(pk=release_id).first()
    if release is None:
        raise ReleaseNotFound(f"No release {release_id} exists.")
    remote = distributor_for(release.distributor).status(release_package(release=release))
    with transaction.atomic():
        return _apply_remote_status(_locked(release_id), remote, kind=DeliveryEvent.Kind.STATUS)


def release_webhook_receive(*, body: bytes, signature: str) -> Release:
    """Apply a signed Platoon status webhook; a bad signature changes nothing."""
    if not is_signature_valid(body, signature, settings.PLATOON["WEBHOOK_SECRET"]):
        raise InvalidWebhookSignature("The X-Platoon-Signature header does not match the body.")
    try:
        event = parse_webhook(body)
    except DistributorError as exc:
        raise InvalidWebhookBody(exc.message) from None
    with transaction.atomic():
        release = (
            Release.objects.select_for_update()
            .filter(distributor=Release.Distributor.PLATOON, distributor_release_id=event.platoon_release_id)
            .first()
        )
        if release is None:
            raise ReleaseNotFound(f"No release is known under Platoon id {event.platoon_release_id}.")
        remote = RemoteStatus(status=event.status, store_links=event.store_links, reasons=event.reasons)
        return _apply_remote_status(release, remote, kind=DeliveryEvent.Kind.WEBHOOK)


def release_takedown(*, release_id: int) -> Release:
    """Take a delivered release down through the distributor that delivered it."""
    with transaction.atomic():
        release = _locked(release_id)
        if Release.Status.TAKEN_DOWN not in Release.ALLOWED[release.status]:
            raise IllegalReleaseTransition(
                f"Release {release.pk} is {release.get_status_display().lower()}; only a delivered release can be "
                "taken down.",
                extra={"from": release.status, "to": Release.Status.TAKEN_DOWN},
            )
        package = release_package(release=release)
    try:
        result = distributor_for(release.distributor).takedown(package)
    except DistributorError as exc:
        with transaction.atomic():
            event_log(_locked(release_id), DeliveryEvent.Kind.TAKEDOWN, DeliveryEvent.Outcome.FAILED, exc.message)
        raise
    with transaction.atomic():
        release = _locked(release_id)
        remote = RemoteStatus(status=Release.Status.TAKEN_DOWN)
        release = _apply_remote_status(release, remote, kind=DeliveryEvent.Kind.TAKEDOWN)
        if result.location:
            event_log(
                release, DeliveryEvent.Kind.TAKEDOWN, DeliveryEvent.Outcome.OK, f"takedown sent: {result.location}"
            )
    return release
