"""Writing a frame through a Glue connection locally, as ``write_dynamic_frame.from_jdbc_conf``.

The connection (JDBC URL, user, password) is resolved through the Glue API; the rows are
staged as CSV, then ``preactions``, the bulk load into ``dbtable`` and ``postactions`` run in one
warehouse transaction, which is how Glue's Redshift writer behaves. A ``database`` option
replaces the database of the connection's URL, as on Glue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pyspark.sql import DataFrame

from flightpipe.gluelocal.aws import scratch_dir
from flightpipe.warehouse import CsvSource, split_statements, warehouse_from_url


@dataclass(frozen=True)
class JdbcConf:
    url: str
    user: str
    password: str

    @property
    def vendor(self) -> str:
        return self.url.removeprefix("jdbc:").split(":", 1)[0]

    def as_glue_dict(self) -> dict[str, str]:
        return {
            "url": self.url,
            "user": self.user,
            "password": self.password,
            "vendor": self.vendor,
        }

    def with_database(self, database: str | None) -> str:
        if not database:
            return self.url
        parts = urlsplit(self.url.removeprefix("jdbc:"))
        return "jdbc:" + urlunsplit(parts._replace(path=f"/{database}"))


def connection_conf(glue: Any, name: str, catalog_id: str | None = None) -> JdbcConf:
    """The JDBC settings of a Glue connection."""
    ids = {"CatalogId": catalog_id} if catalog_id else {}
    connection = glue.get_connection(Name=name, HidePassword=False, **ids)["Connection"]
    properties = connection.get("ConnectionProperties", {})
    try:
        return JdbcConf(
            url=properties["JDBC_CONNECTION_URL"],
            user=properties.get("USERNAME", ""),
            password=properties.get("PASSWORD", ""),
        )
    except KeyError as error:
        raise ValueError(f"Glue connection {name!r} has no JDBC_CONNECTION_URL") from error


def write_frame(
    frame: DataFrame,
    glue: Any,
    s3: Any,
    connection_name: str,
    options: dict[str, Any],
    redshift_tmp_dir: str = "",
    catalog_id: str | None = None,
) -> int:
    """Load ``frame`` into ``options['dbtable']`` with its pre/postactions; returns rows loaded."""
    if "dbtable" not in options:
        raise ValueError("connection_options needs 'dbtable'")
    conf = connection_conf(glue, connection_name, catalog_id)
    warehouse = warehouse_from_url(
        conf.with_database(options.get("database")),
        user=conf.user,
        password=conf.password,
        s3_client=s3,
        iam_role_arn=options.get("aws_iam_role", ""),
        staging_s3_uri=redshift_tmp_dir,
    )
    staged = scratch_dir("jdbc-") / "rows"
    frame.write.csv(str(staged), header=False, mode="overwrite")
    source = CsvSource(paths=tuple(sorted(staged.glob("part-*"))))
    return warehouse.load(
        options["dbtable"],
        frame.columns,
        source,
        preactions=split_statements(options.get("preactions", "")),
        postactions=split_statements(options.get("postactions", "")),
    )
