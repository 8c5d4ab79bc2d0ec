"""The artist's upload-set pages: the ten slots, uploading, fixing a match by hand, deleting.

Interfaces only: each view parses input, calls one service or selector, and renders. Refusals
(``DomainError``) become readable messages. Another artist's set or upload is a 404.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from catalog.selectors import recording_search
from generation.selectors import upload_set_latest_generation
from songforge.errors import DomainError, NotFound
from songforge.forms import CatalogSearchForm
from songforge.pages import HtmxHttpRequest, error_redirect, owner_id, wants_json
from uploads import selectors, services
from uploads.forms import UploadForm
from uploads.models import Upload, UploadSet


def _owned_set(request: HttpRequest, pk: int) -> UploadSet:
    try:
        return selectors.upload_set_owned(upload_set_id=pk, owner_id=owner_id(request))
    except NotFound:
        raise Http404("No such upload set.") from None


def _owned_upload(request: HttpRequest, pk: int) -> Upload:
    try:
        return selectors.upload_owned(upload_id=pk, owner_id=owner_id(request))
    except NotFound:
        raise Http404("No such upload.") from None


@dataclass(frozen=True)
class Readiness:
    """What the Generate button needs: whether it is enabled, and why not."""

    is_ready: bool
    reasons: list[str]


def _readiness(upload_set: UploadSet) -> Readiness:
    try:
        result = selectors.upload_set_readiness(upload_set_id=upload_set.pk, owner_id=upload_set.owner_id)
    except DomainError as error:
        return Readiness(is_ready=False, reasons=[error.message])
    return Readiness(is_ready=result.is_ready, reasons=list(result.reasons))


def _slots_context(upload_set: UploadSet) -> dict[str, Any]:
    uploads = selectors.uploads_of_set(upload_set_id=upload_set.pk)
    latest = upload_set_latest_generation(upload_set_id=upload_set.pk)
    return {
        "upload_set": upload_set,
        "uploads": uploads,
        "empty_slots": range(max(settings.UPLOAD_SET_SIZE - len(uploads), 0)),
        "set_size": settings.UPLOAD_SET_SIZE,
        "is_identifying": any(u.status == Upload.Status.IDENTIFYING for u in uploads),
        "readiness": _readiness(upload_set),
        "active_generation": latest if latest is not None and latest.is_active else None,
        "finished_generation": latest if latest is not None and latest.is_finished else None,
    }


@login_required
@require_POST
def upload_set_new(request: HttpRequest) -> HttpResponse:
    try:
        upload_set = services.upload_set_create(owner_id=owner_id(request))
    except DomainError as error:
        return error_redirect(request, error, "generation:song_list")
    return redirect("uploads:upload_set_detail", upload_set.pk)


@login_required
@require_GET
def upload_set_detail(request: HttpRequest, pk: int) -> HttpResponse:
    upload_set = _owned_set(request, pk)
    context = _slots_context(upload_set)
    context["form"] = UploadForm()
    context["max_bytes"] = settings.UPLOAD_MAX_BYTES
    return render(request, "uploads/upload_set.html", context)


@login_required
@require_GET
def upload_set_slots(request: HttpRequest, pk: int) -> HttpResponse:
    """The ten slots with their identification status; polled by htmx while any is identifying."""
    upload_set = _owned_set(request, pk)
    return render(request, "uploads/_slots.html", _slots_context(upload_set))


@login_required
@require_POST
def upload_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Receives files from the upload widget (one per request) or from the plain form."""
    upload_set = _owned_set(request, pk)
    form = UploadForm(request.POST, request.FILES)
    as_json = wants_json(request)
    if not form.is_valid():
        message = "Choose an audio file to upload."
        if as_json:
            return JsonResponse({"code": "no_file", "message": message}, status=400)
        messages.error(request, message)
        return redirect("uploads:upload_set_detail", upload_set.pk)
    added: list[Upload] = []
    try:
        for file in request.FILES.getlist("file"):
            added.append(services.upload_add(upload_set_id=upload_set.pk, file=file, owner_id=owner_id(request)))
    except DomainError as error:
        if as_json:
            return JsonResponse(error.as_dict(), status=error.http_status)
        for upload in added:
            messages.success(request, f"Uploaded {upload.original_name}.")
        return error_redirect(request, error, "uploads:upload_set_detail", upload_set.pk)
    if as_json:
        return JsonResponse(
            {"uploads": [{"id": u.pk, "name": u.original_name, "status": u.status} for u in added]}, status=201
        )
    messages.success(request, f"Uploaded {len(added)} file(s); identifying them now.")
    return redirect("uploads:upload_set_detail", upload_set.pk)


@login_required
@require_GET
def upload_search(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Catalog search to fix one upload's match by hand (an htmx partial, or a page without JS)."""
    upload = _owned_upload(request, pk)
    form = CatalogSearchForm(request.GET or None)
    results: list[Any] = []
    error = ""
    if form.is_valid() and form.cleaned_data["q"]:
        try:
            results = list(recording_search(query=form.cleaned_data["q"], limit=10))
        except DomainError as exc:
            error = exc.message
    context = {"upload": upload, "form": form, "results": results, "error": error, "searched": form.is_valid()}
    if request.htmx and request.htmx.target == "search-results":
        return render(request, "uploads/_search_results.html", context)
    if request.htmx:
        return render(request, "uploads/_search_panel.html", context)
    return render(request, "uploads/upload_search.html", context)


@login_required
@require_POST
def upload_match(request: HttpRequest, pk: int) -> HttpResponse:
    upload = _owned_upload(request, pk)
    try:
        recording_id = int(request.POST.get("recording_id", ""))
    except ValueError:
        messages.error(request, "Pick a recording from the search results.")
        return redirect("uploads:upload_set_detail", upload.upload_set_id)
    try:
        claim = services.upload_match_claim(upload_id=upload.pk, recording_id=recording_id, owner_id=owner_id(request))
    except DomainError as error:
        return error_redirect(request, error, "uploads:upload_set_detail", upload.upload_set_id)
    messages.success(
        request,
        f"{upload.original_name}: your match to {claim.recording} is waiting for review by SongForge staff.",
    )
    return redirect("uploads:upload_set_detail", upload.upload_set_id)


@login_required
@require_POST
def upload_remove(request: HttpRequest, pk: int) -> HttpResponse:
    upload = _owned_upload(request, pk)
    try:
        services.upload_delete(upload_id=upload.pk, owner_id=owner_id(request))
    except DomainError as error:
        return error_redirect(request, error, "uploads:upload_set_detail", upload.upload_set_id)
    messages.success(request, f"Deleted {upload.original_name}.")
    return redirect("uploads:upload_set_detail", upload.upload_set_id)


@login_required
@require_POST
def upload_reidentify(request: HttpRequest, pk: int) -> HttpResponse:
    upload = _owned_upload(request, pk)
    try:
        services.upload_identify_again(upload_id=upload.pk, owner_id=owner_id(request))
    except DomainError as error:
        return error_redirect(request, error, "uploads:upload_set_detail", upload.upload_set_id)
    messages.success(request, f"Identifying {upload.original_name} again.")
    return redirect("uploads:upload_set_detail", upload.upload_set_id)
