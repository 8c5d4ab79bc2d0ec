import pytest
from django.db import connection


@pytest.mark.postgres
def test_runs_on_postgresql_when_configured(postgres_db):
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        (version,) = cursor.fetchone()
    assert int(version.split(".")[0]) >= 13
