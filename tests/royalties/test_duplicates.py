"""Duplicates are caught by content, and overlapping statements wait for a staff decision."""

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile

from royalties.errors import StatementHeld
from royalties.imports import rows_to_csv, statement_import
from royalties.models import Entry, LineGroup, Statement, StatementUpload, Transaction
from royalties.selectors import balances_by_kind
from royalties.tasks import statement_upload_import_task
from tests.factories import UserFactory
from tests.royalties.conftest import line
from tests.royalties.test_api import client_for

ROWS = [
    line(revenue="100.00", store="Spotify"),
    line(revenue="60.97", store="Apple", territory="US"),
    line(revenue="50.00", store="Deezer", territory="FR", units=7),
]


def snapshot():
    return (Statement.objects.count(), LineGroup.objects.count(), Transaction.objects.count(), Entry.objects.count())


def revenue() -> int:
    return balances_by_kind().get(("revenue", "USD"), 0)


def test_a_resaved_copy_with_crlf_under_another_name_is_not_paid_twice(world, tmp_path):
    first = tmp_path / "october.csv"
    first.write_text(rows_to_csv(ROWS))
    original = statement_import(path=first).statement
    assert revenue() == 21097
    before = snapshot()

    copy = tmp_path / "october (1).csv"
    copy.write_bytes(first.read_bytes().replace(b"\n", b"\r\n"))
    again = statement_import(path=copy)
    assert (again.is_created, again.statement) == (False, original)
    assert snapshot() == before
    assert revenue() == 21097


def test_bom_trailing_spaces_row_and_column_order_do_not_make_a_new_statement(world, tmp_path):
    first = tmp_path / "a.csv"
    first.write_text(rows_to_csv(ROWS))
    original = statement_import(path=first).statement
    columns = ["currency", "net_revenue", "units", "isrc", "territory", "store", "period"]
    text = "\ufeff" + ",".join(columns) + "  \n"
    text += "".join(",".join(str(row[c]) for c in columns) + " \r\n" for row in reversed(ROWS))
    other = tmp_path / "b.csv"
    other.write_text(text, encoding="utf-8")
    before = snapshot()
    assert statement_import(path=other).statement == original
    assert snapshot() == before


def test_other_money_under_the_same_keys_is_held_with_the_overlap_shown(world, tmp_path):
    statement_import(path=_write(tmp_path, "october.csv", ROWS))
    before = snapshot()
    changed = [{**row, "net_revenue": "1.00"} for row in ROWS]
    with pytest.raises(StatementHeld) as error:
        statement_import(path=_write(tmp_path, "october-v2.csv", changed))
    assert error.value.http_status == 409
    extra = error.value.extra
    assert (extra["groups"], extra["overlapping"], extra["percent"]) == (3, 3, 100.0)
    assert [s["reference"] for s in extra["statements"]] == ["october.csv"]
    assert extra["examples"][0] == {
        "period": "2026-10",
        "store": "Spotify",
        "territory": "DE",
        "isrc": "QZS8F2600001",
        "currency": "USD",
        "line": 2,
    }
    assert snapshot() == before


def test_staff_may_import_an_overlapping_statement_as_a_correction(world, tmp_path):
    statement_import(path=_write(tmp_path, "october.csv", ROWS))
    correction = [line(revenue="-10.00", store="Spotify")]
    result = statement_import(path=_write(tmp_path, "october-fix.csv", correction), accept_overlap=True)
    assert result.is_created
    assert result.statement.is_correction
    assert result.statement.overlap["overlapping"] == 1
    assert revenue() == 20097


def test_an_overlap_under_the_threshold_is_imported(world, tmp_path):
    statement_import(path=_write(tmp_path, "october.csv", [line(store=f"S{i}") for i in range(20)]))
    november = [line(store=f"S{i}", period="2026-11") for i in range(19)] + [line(store="S0")]
    statement = statement_import(path=_write(tmp_path, "november.csv", november)).statement
    assert (statement.is_correction, statement.overlap["overlapping"], statement.overlap["percent"]) == (False, 1, 5.0)


@pytest.fixture
def decider(world):
    user = UserFactory.create(username="accountant", is_staff=True)
    user.user_permissions.add(
        Permission.objects.get(codename="import_statement"), Permission.objects.get(codename="view_statementupload")
    )
    return client_for(user)


def _upload(client, body: bytes, name: str):
    return client.post("/api/royalties/uploads/", {"file": SimpleUploadedFile(name, body)}, format="multipart")


def test_an_overlapping_upload_is_held_until_staff_import_it_as_a_correction(
    world, decider, tmp_path, stub_broker, django_capture_on_commit_callbacks
):
    statement_import(path=_write(tmp_path, "october.csv", ROWS))
    with django_capture_on_commit_callbacks(execute=True):
        upload_id = _upload(decider, rows_to_csv([{**ROWS[0], "net_revenue": "5.00"}]).encode(), "late.csv").json()[
            "id"
        ]
    statement_upload_import_task.fn(upload_id)
    held = decider.get(f"/api/royalties/uploads/{upload_id}/").json()
    assert held["status"] == "held"
    assert (held["error"]["code"], held["error"]["extra"]["overlapping"]) == ("statement_held", 1)
    assert Path(StatementUpload.objects.get(pk=upload_id).path).exists()
    statement_upload_import_task.fn(upload_id)  # a duplicate message changes nothing
    assert StatementUpload.objects.get(pk=upload_id).status == "held"

    with django_capture_on_commit_callbacks(execute=True):
        decided = decider.post(f"/api/royalties/uploads/{upload_id}/decision/", {"decision": "import"}, format="json")
    assert decided.status_code == 200
    assert (decided.json()["status"], decided.json()["is_correction"]) == ("queued", True)
    statement_upload_import_task.fn(upload_id)
    upload = StatementUpload.objects.select_related("statement", "decided_by").get(pk=upload_id)
    assert upload.statement is not None
    assert upload.decided_by is not None
    assert (upload.status, upload.statement.is_correction, upload.decided_by.username) == ("done", True, "accountant")
    assert revenue() == 21097 + 500


def test_a_held_upload_may_be_rejected_and_then_no_decision_is_taken_twice(
    world, decider, tmp_path, stub_broker, django_capture_on_commit_callbacks
):
    statement_import(path=_write(tmp_path, "october.csv", ROWS))
    with django_capture_on_commit_callbacks(execute=True):
        upload_id = _upload(decider, rows_to_csv([{**ROWS[1], "net_revenue": "5.00"}]).encode(), "dup.csv").json()["id"]
    statement_upload_import_task.fn(upload_id)
    before = snapshot()
    with django_capture_on_commit_callbacks(execute=True):
        rejected = decider.post(f"/api/royalties/uploads/{upload_id}/decision/", {"decision": "reject"}, format="json")
    assert (rejected.status_code, rejected.json()["status"]) == (200, "failed")
    assert not Path(StatementUpload.objects.get(pk=upload_id).path).exists()
    again = decider.post(f"/api/royalties/uploads/{upload_id}/decision/", {"decision": "import"}, format="json")
    assert (again.status_code, again.json()["code"]) == (400, "statement_upload_decision_invalid")
    assert snapshot() == before


def test_only_staff_who_may_import_statements_decide(world, tmp_path):
    plain_staff = client_for(UserFactory.create(username="plain", is_staff=True))
    response = plain_staff.post("/api/royalties/uploads/1/decision/", {"decision": "import"}, format="json")
    assert response.status_code == 403


def _write(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text(rows_to_csv(rows))
    return path
