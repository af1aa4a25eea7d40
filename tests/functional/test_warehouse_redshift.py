"""The Redshift implementation's session logic: S3 staging, COPY, transaction handling.

No Redshift is reachable here, so redshift-connector's ``connect`` is replaced by a recorder of
the statements it receives, which reads what a COPY names as Redshift would (a manifest's
entries, or every object under a prefix); S3 is moto. What is under test is our code around the
driver: the COPY statement, the staged objects as Glue's Redshift connector leaves them, commit
and rollback.
"""

from __future__ import annotations

import json
import re

import boto3
import pytest
import redshift_connector

from flightpipe.warehouse.connections import (
    CsvSource,
    RedshiftWarehouse,
    WarehouseError,
    warehouse_from_url,
)

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
            bucket, key = params[0].removeprefix("s3://").split("/", 1)
            if sql.endswith(" MANIFEST"):  # the manifest's entries, each of them required
                manifest = json.loads(self.s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                keys = [e["url"].removeprefix(f"s3://{bucket}/") for e in manifest["entries"]]
            else:
                listing = self.s3.list_objects_v2(Bucket=bucket, Prefix=key).get("Contents", [])
                keys = [item["Key"] for item in listing]
            for name in keys:
                self.staged[name] = self.s3.get_object(Bucket=bucket, Key=name)["Body"].read()

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
    path = tmp_path / "part-00000-3f1c-c000.csv"  # as Spark names a part file
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


def test_load_stages_to_s3_as_the_connector_and_copies_its_manifest_with_the_role(
    s3, monkeypatch, tmp_path
):
    """spark-redshift-community/spark-redshift, RedshiftWriter.unloadData (commit
    046da8187e9223f61d956ce47ef4916f8feff2a7): a folder <tempdir>/<UUID>/ of Spark's part files
    and _SUCCESS, a manifest.json naming the parts ("url", "mandatory", "meta" with
    "content_length"), COPY ... FROM the manifest ... manifest; nothing deleted afterwards."""
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
        "FROM %s IAM_ROLE %s FORMAT AS CSV MANIFEST"
    )
    manifest_uri, role = recorder.statements[1][1]
    assert role == ROLE
    assert sqls[-1] == "ANALYZE airlines.airports_dim"
    assert list(recorder.staged.values()) == [b'1,"Kekaha, Kauai",,x\n']
    assert loaded == 1 and recorder.committed and not recorder.rolled_back and recorder.closed
    assert recorder.autocommit is False
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="staging")["Contents"])
    folder = keys[0].rsplit("/", 1)[0]
    assert re.fullmatch(r"tmp/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", folder)
    assert keys == [
        f"{folder}/_SUCCESS",
        f"{folder}/manifest.json",
        f"{folder}/{source.paths[0].name}",
    ]
    assert manifest_uri == f"s3://staging/{folder}/manifest.json"
    manifest = json.loads(
        s3.get_object(Bucket="staging", Key=f"{folder}/manifest.json")["Body"].read()
    )
    assert manifest == {
        "entries": [
            {
                "url": f"s3://staging/{folder}/{source.paths[0].name}",
                "mandatory": True,
                "meta": {"content_length": source.paths[0].stat().st_size},
            }
        ]
    }


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
