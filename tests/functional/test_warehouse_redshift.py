"""The Redshift implementation's session logic: S3 staging, COPY, transaction handling.

No Redshift is reachable here, so redshift-connector's ``connect`` is replaced by a recorder of
the statements it receives; S3 is moto. What is under test is our code around the driver: the
COPY statement, the staged objects and their cleanup, commit and rollback.
"""

from __future__ import annotations

import boto3
import pytest
import redshift_connector

from flightpipe.warehouse import CsvSource, RedshiftWarehouse, WarehouseError, warehouse_from_url

pytestmark = pytest.mark.functional

ROLE = "arn:aws:iam::123456789012:role/redshift-copy"


class Recorder:
    def __init__(self, s3, fail_on: str | None = None):
        self.s3, self.fail_on = s3, fail_on
        self.statements: list[tuple[str, object]] = []
        self.staged: dict[str, bytes] = {}
        self.committed = self.rolled_back = self.closed = False
        self.autocommit = True

    def cursor(self):
        return self

    def execute(self, sql, params=None):
        self.statements.append((sql, params))
        if self.fail_on and self.fail_on in sql:
            raise redshift_connector.ProgrammingError("boom")
        if sql.startswith("COPY"):
            bucket, prefix = params[0].removeprefix("s3://").split("/", 1)
            listing = self.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
            for item in listing:
                body = self.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                self.staged[item["Key"]] = body

    def fetchone(self):
        return (sum(body.count(b"\n") for body in self.staged.values()),)

    def commit(self):
        self.committed = True

    def rollback(self):
        self.rolled_back = True

    def close(self):
        self.closed = True


@pytest.fixture
def s3(moto, monkeypatch):
    client = boto3.client("s3")
    client.create_bucket(Bucket="staging")
    yield client


def warehouse(s3, monkeypatch, recorder) -> RedshiftWarehouse:
    monkeypatch.setattr(redshift_connector, "connect", lambda **kwargs: recorder)
    built = warehouse_from_url(
        "jdbc:redshift://cluster.example:5439/dev",
        user="loader",
        password="secret",
        iam_role_arn=ROLE,
        staging_s3_uri="s3://staging/tmp/",
        s3_client=s3,
    )
    assert isinstance(built, RedshiftWarehouse)
    return built


def csv_file(tmp_path, text: str) -> CsvSource:
    path = tmp_path / "rows.csv"
    path.write_text(text, encoding="utf-8")
    return CsvSource(paths=(path,))


def load(built: RedshiftWarehouse, source: CsvSource, pre: str, post: str) -> int:
    with built.transaction() as session:
        session.execute(pre)
        loaded = session.copy_csv(
            "airlines.airports_dim", ("airport_id", "city", "state", "name"), source
        )
        session.execute(post)
    return loaded


def test_load_stages_to_s3_copies_with_the_role_and_cleans_up(s3, monkeypatch, tmp_path):
    recorder = Recorder(s3)
    source = csv_file(tmp_path, '1,"Kekaha, Kauai",,x\n')

    loaded = load(
        warehouse(s3, monkeypatch, recorder),
        source,
        "DELETE FROM airlines.airports_dim",
        "ANALYZE airlines.airports_dim",
    )

    sqls = [sql for sql, _ in recorder.statements]
    assert sqls[0] == "DELETE FROM airlines.airports_dim"
    assert sqls[1] == (
        "COPY airlines.airports_dim (airport_id, city, state, name) "
        "FROM %s IAM_ROLE %s FORMAT AS CSV"
    )
    assert recorder.statements[1][1][1] == ROLE
    assert sqls[-1] == "ANALYZE airlines.airports_dim"
    assert list(recorder.staged.values()) == [b'1,"Kekaha, Kauai",,x\n']
    assert loaded == 1 and recorder.committed and not recorder.rolled_back and recorder.closed
    assert recorder.autocommit is False
    assert s3.list_objects_v2(Bucket="staging").get("KeyCount") == 0


def test_a_failing_postaction_rolls_back(s3, monkeypatch, tmp_path):
    recorder = Recorder(s3, fail_on="ANALYZE")
    with pytest.raises(WarehouseError, match="Redshift: boom"):
        load(
            warehouse(s3, monkeypatch, recorder),
            csv_file(tmp_path, "1,a,b,c\n"),
            "SELECT 1",
            "ANALYZE airlines.airports_dim",
        )
    assert recorder.rolled_back and not recorder.committed and recorder.closed
    assert s3.list_objects_v2(Bucket="staging").get("KeyCount") == 0
