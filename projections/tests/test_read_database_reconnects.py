"""The read models' PostgreSQL connection outlives a server that drops it (a restart, a
failover): the transaction that finds it lost fails, as transient, and the next one works."""

from __future__ import annotations

from pathlib import Path
from uuid import uuid4

import psycopg
import pytest

from orderflow.projections.database import ReadDatabase
from orderflow.runtime.retry import is_transient
from orderflow.runtime.settings import Settings

pytestmark = pytest.mark.integration


def test_a_connection_the_server_dropped_is_opened_again(database_url: str, tmp_path: Path) -> None:
    # given a read database whose connection PostgreSQL has terminated
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    database = ReadDatabase(settings, f"dropped_{uuid4().hex[:8]}")
    with database.reading() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    with psycopg.connect(database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [backend])

    # when it is used: the first transaction finds the connection lost
    with pytest.raises(psycopg.OperationalError) as lost, database.reading() as cursor:
        cursor.execute("SELECT 1")

    # then that failure is one to retry, and the retry works on a new connection
    assert is_transient(lost.value)
    with database.reading() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        assert cursor.fetchone()[0] != backend
    database.close()
