"""Account > API tokens: make a named token (shown once), see when each was last used, revoke."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from apitokens import selectors, services
from apitokens.forms import TokenCreateForm
from songforge.errors import DomainError, NotFound
from songforge.pages import owner_id


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: HttpRequest) -> HttpResponse:
    form = TokenCreateForm(request.POST or None)
    new_token = ""
    if request.method == "POST" and form.is_valid():
        try:
            made = services.api_token_create(
                user_id=owner_id(request),
                name=form.cleaned_data["name"],
                expires_in_days=form.cleaned_data["expires_in_days"],
                created_by_id=owner_id(request),
            )
        except DomainError as error:
            messages.error(request, error.message)
        else:
            new_token = made.token
            form = TokenCreateForm()
    response = render(
        request,
        "apitokens/tokens.html",
        {"tokens": selectors.api_tokens_of_user(user_id=owner_id(request)), "form": form, "new_token": new_token},
    )
    response["Cache-Control"] = "no-store"  # the page may show a token once
    return response


@login_required
@require_POST
def token_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        api_token = services.api_token_revoke(token_id=pk, by_user_id=owner_id(request), owner_id=owner_id(request))
    except NotFound:
        raise Http404("No such token.") from None
    messages.success(request, f"Revoked {api_token.name}; programs using it are refused from now on.")
    return redirect("apitokens:token_list")
