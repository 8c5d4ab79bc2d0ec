from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from royalties.imports import rows_to_csv
from royalties.models import Statement, StatementUpload
from royalties.tasks import resume_statement_uploads, statement_upload_import_task
from staff.roles import ROYALTY_ACCOUNTANT
from tests.factories import UserFactory
from tests.roles import staff_user
from tests.royalties.conftest import line
from tests.royalties.test_api import client_for


@pytest.fixture
def staff(world):
    return client_for(staff_user("staff", ROYALTY_ACCOUNTANT))


def upload(client, body: bytes, name: str = "oct.csv"):
    return client.post("/api/royalties/uploads/", {"file": SimpleUploadedFile(name, body)}, format="multipart")


def test_a_queued_upload_is_imported_by_the_job_once(staff, stub_broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(staff, rows_to_csv([line(revenue="3.00")]).encode())
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    upload_id = response.json()["id"]
    assert stub_broker.queues["royalties"].qsize() == 1

    statement_upload_import_task.fn(upload_id)
    statement_upload_import_task.fn(upload_id)  # duplicate delivery

    detail = staff.get(f"/api/royalties/uploads/{upload_id}/").json()
    assert detail["status"] == "done"
    assert detail["statement_id"] == Statement.objects.get().pk
    assert Statement.objects.count() == 1
    assert not Path(StatementUpload.objects.get().path).exists()


def test_a_refused_upload_reports_the_line(staff, stub_broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        upload_id = upload(staff, rows_to_csv([line(), line(currency="dollars")]).encode()).json()["id"]
    statement_upload_import_task.fn(upload_id)
    detail = staff.get(f"/api/royalties/uploads/{upload_id}/").json()
    assert detail["status"] == "failed"
    assert (detail["error"]["code"], detail["error"]["extra"]["line"]) == ("statement_invalid", 3)
    assert Statement.objects.count() == 0


def test_unfinished_uploads_are_resumed(staff, stub_broker, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        upload(staff, rows_to_csv([line()]).encode())
    stub_broker.flush_all()
    assert resume_statement_uploads() == 1
    assert stub_broker.queues["royalties"].qsize() == 1


def test_only_staff_upload(world):
    holder_user = UserFactory.create(username="holder")
    assert upload(client_for(holder_user), b"x").status_code == 403
    assert client_for(holder_user).get("/api/royalties/uploads/1/").status_code == 403
