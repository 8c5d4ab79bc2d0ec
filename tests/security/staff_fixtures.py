"""Fixtures shared by the staff security tests: a royalties world with a payout run, clients per role."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from apitokens.services import api_token_create
from royalties.imports import statement_import
from royalties.models import PayoutRun
from royalties.payouts import payout_run_create
from staff.roles import PAYOUT_APPROVER, READ_ONLY_AUDITOR, RIGHTS_MANAGER, ROYALTY_ACCOUNTANT
from tests.roles import staff_user
from tests.royalties import conftest as royalties_fixtures
from tests.royalties.conftest import World, line

world = royalties_fixtures.world
statement_file = royalties_fixtures.statement_file


@pytest.fixture(autouse=True)
def private_data_dir(settings: Any, tmp_path: Path) -> None:
    """Statement uploads wait below the test's own folder."""
    settings.DATA_DIR = tmp_path / "data"


@pytest.fixture
def people(db: None) -> dict[str, User]:
    """One staff account per role, plus staff with zero permissions."""
    return {
        "nobody": staff_user("staff-nobody"),
        "auditor": staff_user("auditor", READ_ONLY_AUDITOR),
        "rights": staff_user("rights", RIGHTS_MANAGER),
        "accountant": staff_user("accountant", ROYALTY_ACCOUNTANT),
        "approver": staff_user("approver", PAYOUT_APPROVER),
        "approver2": staff_user("approver2", PAYOUT_APPROVER),
    }


@pytest.fixture
def admin_as() -> Callable[[User], Client]:
    def login(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return login


def api_as(user: User) -> APIClient:
    client = APIClient()
    made = api_token_create(user_id=user.pk, name="staff tests")
    client.credentials(HTTP_AUTHORIZATION=f"Token {made.token}")
    return client


@pytest.fixture
def run(world: World, statement_file: Callable[..., Path], people: dict[str, User], settings: Any) -> PayoutRun:
    """October's payout run over 20.00 USD of revenue, created by the accountant: 670/670/660 to pay."""
    settings.PAYOUT_MINIMUM_MINOR = 100
    statement_import(path=statement_file([line(revenue="20.00")]))
    return payout_run_create(period="2026-10", by_id=people["accountant"].pk)


def action(client: Client, model: str, name: str, ids: list[int], **extra: Any) -> Any:
    """POST an admin changelist action, as a person forcing it would."""
    app, model_name = model.split(".")
    return client.post(f"/admin/{app}/{model_name}/", {"action": name, "_selected_action": ids, **extra}, follow=True)
