import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apitokens.services import api_token_create
from royalties.imports import rows_to_csv, statement_import
from royalties.models import Statement
from royalties.payouts import payout_run_create
from staff.roles import ROYALTY_ACCOUNTANT
from tests.factories import UserFactory
from tests.roles import staff_user
from tests.royalties.conftest import line


@pytest.fixture(autouse=True)
def _no_throttle_carryover(settings):
    from django.core.cache import cache

    cache.clear()
    settings.PAYOUT_MINIMUM_MINOR = 100


def client_for(user):
    client = APIClient()
    made = api_token_create(user_id=user.pk, name="statements export")
    client.credentials(HTTP_AUTHORIZATION=f"Token {made.token}")
    return client


@pytest.fixture
def users(world, statement_file):
    owner = UserFactory.create(username="label-owner")
    world.label.user = owner
    world.label.save(update_fields=["user"])
    other = UserFactory.create(username="trainer-owner")
    world.trainer.user = other
    world.trainer.save(update_fields=["user"])
    statement_import(path=statement_file([line(revenue="20.00"), line(revenue="10.00", period="2026-11")]))
    payout_run_create(period="2026-11")
    return {
        "owner": owner,
        "other": other,
        "outsider": UserFactory.create(username="outsider"),
        "staff": staff_user("staff", ROYALTY_ACCOUNTANT),
    }


def test_it_shows_a_holder_only_its_own_earnings(world, users):
    response = client_for(users["owner"]).get("/api/royalties/earnings/")
    assert response.status_code == 200
    assert response.json()["count"] == 2
    assert {row["holder_id"] for row in response.json()["results"]} == {world.label.pk}
    assert sorted(row["amount_minor"] for row in response.json()["results"]) == [335, 670]


def test_a_holder_cannot_read_another_holders_data_even_by_asking(world, users):
    client = client_for(users["owner"])
    for url in ("/api/royalties/earnings/", "/api/royalties/statements/", "/api/royalties/payouts/"):
        response = client.get(url, {"holder": world.trainer.pk})
        assert response.status_code == 200
        assert {row["holder_id"] for row in response.json()["results"]} == {world.label.pk}, url
    document = client.get("/api/royalties/statements/2026-10.csv", {"holder": world.trainer.pk})
    assert "670" in document.content.decode()
    assert "660" not in document.content.decode()


def test_an_account_without_a_holder_is_refused(users):
    response = client_for(users["outsider"]).get("/api/royalties/earnings/")
    assert response.status_code == 403
    assert "not linked to a rights holder" in response.json()["detail"]


def test_anonymous_requests_are_refused():
    assert APIClient().get("/api/royalties/statements/").status_code in (401, 403)


def test_staff_see_everyone_and_can_narrow_to_one_holder(world, users):
    client = client_for(users["staff"])
    everyone = client.get("/api/royalties/earnings/").json()
    assert {row["holder_id"] for row in everyone["results"]} == {world.label.pk, world.publisher.pk, world.trainer.pk}
    one = client.get("/api/royalties/earnings/", {"holder": world.trainer.pk}).json()
    assert {row["holder_id"] for row in one["results"]} == {world.trainer.pk}


def test_statements_filter_by_period_and_export_csv(world, users):
    client = client_for(users["owner"])
    october = client.get("/api/royalties/statements/", {"period": "2026-10"}).json()
    assert october["results"] == [
        {
            "holder_id": world.label.pk,
            "holder": "Label",
            "period": "2026-10",
            "currency": "USD",
            "earned_minor": 670,
            "refunded_minor": 0,
            "paid_out_minor": 0,
            "carried_minor": 670,
        }
    ]
    november = client.get("/api/royalties/statements/", {"period": "2026-11"}).json()["results"]
    assert (november[0]["earned_minor"], november[0]["paid_out_minor"]) == (335, 1005)
    assert (november[0]["refunded_minor"], november[0]["carried_minor"]) == (0, 0)
    export = client.get("/api/royalties/statements/", {"export": "csv"})
    assert export["Content-Type"] == "text/csv"
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[0] == "holder_id,holder,period,currency,earned_minor,refunded_minor,paid_out_minor,carried_minor"
    assert len(lines) == 3
    assert client.get("/api/royalties/statements/", {"period": "October"}).status_code == 400


def test_payouts_and_pdf_statement(world, users):
    client = client_for(users["owner"])
    payouts = client.get("/api/royalties/payouts/").json()["results"]
    assert [(p["period"], p["amount_minor"], p["is_paid"]) for p in payouts] == [("2026-11", 1005, False)]
    pdf = client.get("/api/royalties/statements/2026-11.pdf")
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")


def test_lists_are_paginated(world, users):
    response = client_for(users["staff"]).get("/api/royalties/earnings/", {"page": 2})
    assert response.status_code == 404  # 6 rows fit on page 1 of 50
    assert set(client_for(users["staff"]).get("/api/royalties/earnings/").json()) == {
        "count",
        "next",
        "previous",
        "results",
    }


def test_requests_are_throttled(world, users, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"statements": "2/minute"}}
    from rest_framework.throttling import ScopedRateThrottle

    original = ScopedRateThrottle.THROTTLE_RATES
    ScopedRateThrottle.THROTTLE_RATES = {"statements": "2/minute"}
    try:
        client = client_for(users["owner"])
        codes = [client.get("/api/royalties/earnings/").status_code for _ in range(3)]
    finally:
        ScopedRateThrottle.THROTTLE_RATES = original
    assert codes == [200, 200, 429]


def test_staff_import_a_statement_and_a_duplicate_changes_nothing(world, users):
    client = client_for(users["staff"])
    body = rows_to_csv([line(revenue="1.00", period="2026-12")]).encode()
    first = client.post("/api/royalties/imports/", {"file": SimpleUploadedFile("dec.csv", body)}, format="multipart")
    assert first.status_code == 201
    assert (first.json()["reference"], first.json()["line_count"], first.json()["is_created"]) == ("dec.csv", 1, True)
    second = client.post("/api/royalties/imports/", {"file": SimpleUploadedFile("dec.csv", body)}, format="multipart")
    assert second.status_code == 200
    assert second.json()["is_created"] is False


def test_import_errors_name_the_line_and_holders_cannot_import(world, users):
    body = rows_to_csv([line(), line(units="lots")]).encode()
    response = client_for(users["staff"]).post(
        "/api/royalties/imports/", {"file": SimpleUploadedFile("bad.csv", body)}, format="multipart"
    )
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["extra"]["line"]) == ("statement_invalid", 3)
    forbidden = client_for(users["owner"]).post(
        "/api/royalties/imports/", {"file": SimpleUploadedFile("x.csv", body)}, format="multipart"
    )
    assert forbidden.status_code == 403
    assert Statement.objects.count() == 1


def test_the_schema_documents_the_statements_api(users):
    response = client_for(users["staff"]).get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/royalties/statements/",
        "/api/royalties/earnings/",
        "/api/royalties/payouts/",
        "/api/royalties/imports/",
    ):
        assert path in paths


def test_large_uploads_are_imported_from_djangos_temporary_file(world, users, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 10  # force a TemporaryUploadedFile
    body = rows_to_csv([line(revenue="2.00", period="2026-12")]).encode()
    response = client_for(users["staff"]).post(
        "/api/royalties/imports/", {"file": SimpleUploadedFile("big.csv", body)}, format="multipart"
    )
    assert response.status_code == 201
    assert response.json()["line_count"] == 1


def test_a_refund_only_month_shows_a_refund_not_a_payout(world, users):
    statement_import(path=_file(world, [line(revenue="-2.36", period="2026-12")]))
    december = client_for(users["owner"]).get("/api/royalties/statements/", {"period": "2026-12"}).json()["results"]
    # The label's exact total goes from 1005 to 925.94 cents (33.5% of 2.36 is 79.06): posted 925, so this month
    # shows a refund of 80 (0.94 cents of it stays carried for the label) and no payout; after November's payout
    # of 1005 the label owes 80.
    assert [(r["earned_minor"], r["refunded_minor"], r["paid_out_minor"], r["carried_minor"]) for r in december] == [
        (0, 80, 0, -80)
    ]


def test_statement_rows_equal_the_ledger_per_holder_period_and_currency(world, users):
    from royalties.selectors import holder_balance

    statement_import(
        path=_file(
            world, [line(revenue="-1.00", period="2026-12"), line(revenue="3.00", store="Apple", period="2026-12")]
        )
    )
    rows = client_for(users["staff"]).get("/api/royalties/statements/").json()["results"]
    for row in rows:
        assert row["carried_minor"] == holder_balance(
            holder_id=row["holder_id"], currency=row["currency"], up_to_period=row["period"]
        )
    label_december = next(r for r in rows if r["holder_id"] == world.label.pk and r["period"] == "2026-12")
    # the lines of one release and period are netted (3.00 − 1.00) before the split
    assert (label_december["earned_minor"], label_december["refunded_minor"]) == (67, 0)


def _file(world, rows):
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "december.csv"
    path.write_text(rows_to_csv(rows))
    return path
