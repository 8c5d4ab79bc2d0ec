"""The artist's publishing pages: the form with a preview of the rights split, and the release status.

Interfaces only: the song comes from ``generation.services.release``, holder names from
``catalog.selectors``, the split from the distribution services and selectors (which ask
``royalties``), publishing from ``release_publish``; refusals become readable messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from catalog.selectors import holder_kind_label, holder_labels
from distribution.forms import PublishForm
from distribution.models import Release
from distribution.selectors import (
    release_for_generation,
    release_get_for_owner,
    release_split_sheet,
    release_status,
    releases_for_owner,
)
from distribution.services.publish import release_publish, release_split_preview
from generation.services.release import generation_for_release
from songforge.errors import DomainError, NotFound
from songforge.pages import owner_id

PPB = 1_000_000_000


@dataclass(frozen=True)
class SplitRow:
    holder: str
    kind: str
    pool: str
    ppb: int
    paths: list[dict[str, Any]]


@dataclass(frozen=True)
class SplitView:
    """A split sheet (previewed or stored) shaped for the chart and the table."""

    rows: list[SplitRow]
    pool_items: list[tuple[str, float]]
    holder_items: list[tuple[str, float]]
    total_ppb: int


POOL_LABELS = {"source": "Your ten songs", "training": "Catalog (training data)", "both": "Both pools"}


def _split_view(lines: list[dict[str, Any]], source_share_bps: int) -> SplitView:
    rows = [
        SplitRow(
            holder=str(line["holder"]),
            kind=holder_kind_label(str(line.get("kind", ""))),
            pool=POOL_LABELS.get(str(line.get("pool")), str(line.get("pool"))),
            ppb=int(line["ppb"]),
            paths=list(line.get("paths") or []),
        )
        for line in lines
    ]
    source = source_share_bps / 10_000
    return SplitView(
        rows=rows,
        pool_items=[(f"{POOL_LABELS['source']}' rights holders", source), (POOL_LABELS["training"], 1 - source)],
        holder_items=[(row.holder, row.ppb / PPB) for row in rows[:12]],
        total_ppb=sum(row.ppb for row in rows),
    )


def _preview(generation_id: int) -> tuple[SplitView | None, str]:
    """The split the release would get if published now, or why it cannot be shown."""
    try:
        data = release_split_preview(generation_id=generation_id)
    except DomainError as error:
        return None, error.message
    holders = holder_labels([line.holder_id for line in data.lines])
    lines = [
        {
            "holder": holders[line.holder_id].name if line.holder_id in holders else f"Holder {line.holder_id}",
            "kind": holders[line.holder_id].kind if line.holder_id in holders else "",
            "pool": line.pool,
            "ppb": line.ppb,
            "paths": [path.as_json() for path in line.paths],
        }
        for line in data.lines
    ]
    return _split_view(lines, data.source_share_bps), ""


def _stored_split(release: Release) -> tuple[SplitView | None, str]:
    try:
        data = release_split_sheet(release_id=release.pk)
    except DomainError as error:
        return None, error.message
    if data is None:
        return None, "The split sheet is stored when the release is published."
    return _split_view(list(data["lines"]), int(data["source_share_bps"])), ""


@login_required
@require_GET
def release_list(request: HttpRequest) -> HttpResponse:
    try:
        releases = list(releases_for_owner(owner_id=owner_id(request)))
    except DomainError as error:
        messages.error(request, error.message)
        releases = []
    return render(request, "distribution/release_list.html", {"releases": releases})


@login_required
@require_http_methods(["GET", "POST"])
def publish(request: HttpRequest, generation_pk: int) -> HttpResponse:
    try:
        generation = generation_for_release(generation_id=generation_pk, owner_id=owner_id(request))
    except NotFound as error:
        raise Http404(error.message) from None
    existing = release_for_generation(generation_id=generation.pk, owner_id=owner_id(request))
    if existing is not None:
        return redirect("distribution:release_detail", existing.pk)
    form = PublishForm(request.POST or None, request.FILES or None, initial={"title": generation.title})
    if request.method == "POST" and form.is_valid():
        try:
            release = release_publish(
                generation_id=generation.pk,
                owner_id=owner_id(request),
                title=form.cleaned_data["title"],
                artist_name=form.cleaned_data["artist_name"],
                genre=form.cleaned_data["genre"],
                language=form.cleaned_data["language"],
                artwork=form.cleaned_data["artwork"],
                ai_disclosure=form.cleaned_data["ai_disclosure"],
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            messages.success(
                request, f"“{release.title}” is published (ISRC {release.isrc}) and on its way to the stores."
            )
            return redirect("distribution:release_detail", release.pk)
    split, split_error = _preview(generation.pk)
    context = {"generation": generation, "form": form, "split": split, "split_error": split_error}
    status = 400 if request.method == "POST" else 200
    return render(request, "distribution/publish.html", context, status=status)


@login_required
@require_GET
def release_detail(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        release = release_get_for_owner(release_id=pk, owner_id=owner_id(request))
        status = release_status(release=release)
    except NotFound as error:
        raise Http404(error.message) from None
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("distribution:release_list")
    split, split_error = _stored_split(release)
    context = {
        "release": release,
        "status": status,
        "events": list(reversed(status.events))[:20],
        "split": split,
        "split_error": split_error,
        "is_pending": release.status in (Release.Status.DRAFT, Release.Status.QUEUED, Release.Status.SUBMITTED),
    }
    return render(request, "distribution/release.html", context)
