"""Writing a frame through a Glue connection locally, as Glue's writer for its vendor does.

On a connection that is not Redshift (PostgreSQL, the local stand-in), Glue writes with its JDBC
writer: the rows are inserted into ``dbtable``, and ``preactions``/``postactions``, documented for
Redshift only, are not run (``JdbcLoad``, which refuses them instead). On a Redshift connection, AWS
Glue writes ``write_dynamic_frame.from_jdbc_conf`` to Redshift with the spark-redshift community
connector (spark-redshift-community/spark-redshift: ``RedshiftWriter.scala``, ``doRedshiftLoad`` and
``saveToRedshift``, at commit 046da8187e9223f61d956ce47ef4916f8feff2a7; ``Parameters.scala``,
``DEFAULT_PARAMETERS``, ``preActions``, ``postActions``, at commit
025d78ab1e2af9d3518636a7eb337f174f60e7c3). In one transaction it:

1. runs ``CREATE TABLE IF NOT EXISTS <dbtable> (<the frame's columns>)``;
2. runs the preactions: the option (default ``";"``) trimmed and split on ``;`` by Java's
   ``String.split`` (quotes are not respected, trailing empty pieces are dropped), each piece
   that contains ``%s`` first passed through ``String.format(piece, dbtable)``;
3. COPYs the rows into ``dbtable`` without a column list, only if the frame has rows;
4. runs the postactions, split and formatted the same way;

then commits, or rolls back on any error. This module does the same steps in the same order on
the warehouse interface (PostgreSQL locally), with the trim, split and format done by the JVM
of the local Spark through py4j: an option the connector would mangle is mangled here too, and
a format it cannot apply fails with Java's own error. Where AWS's behaviour cannot be observed
here, this is stricter:

* the options may not contain a line break (AWS: "The preaction parameter can't contain newline
  characters", repost.aws knowledge-center/sql-commands-redshift-glue-job);
* the COPY has no column list, so with the connector's default AVRO staging Redshift matches
  columns by name, with CSV staging by position: the frame's columns must be the table's, by
  name and in order, whether or not the frame has rows;
* an empty statement (``a;;b``) is refused.

The connector also retries the whole transaction (``copyretrycount``, default 2, 30 s apart);
locally a failure fails at once.

Why PostgreSQL, and how closely: docs/decisions/postgresql-for-redshift.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from py4j.protocol import Py4JJavaError
from pyspark.errors.exceptions.captured import CapturedException
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from flightpipe.gluelocal.aws import scratch_dir
from flightpipe.warehouse.connections import (
    CsvSource,
    Session,
    Warehouse,
    identifier,
    warehouse_from_url,
)

# The connector's DEFAULT_PARAMETERS.
DEFAULT_ACTIONS = ";"
# Spark type -> column type of the connector's CREATE TABLE (RedshiftWrapper.schemaString),
# and its PostgreSQL equivalent where the spelling differs.
_REDSHIFT_TYPES: dict[type[T.DataType], str] = {
    T.IntegerType: "INTEGER",
    T.LongType: "BIGINT",
    T.DoubleType: "DOUBLE PRECISION",
    T.FloatType: "REAL",
    T.ShortType: "SMALLINT",
    T.ByteType: "SMALLINT",
    T.BooleanType: "BOOLEAN",
    T.StringType: "VARCHAR(MAX)",
    T.BinaryType: "VARBYTE",
    T.TimestampType: "TIMESTAMPTZ",
    T.TimestampNTZType: "TIMESTAMP",
    T.DateType: "DATE",
}
_POSTGRES_SPELLING = {"VARCHAR(MAX)": "TEXT", "VARBYTE": "BYTEA"}


class ConnectorError(ValueError):
    """The write would fail, or do something else than asked, on AWS Glue's Redshift writer."""


@dataclass(frozen=True)
class JdbcConf:
    url: str
    user: str
    password: str
    enforce_ssl: bool = False
    custom_cert: str = ""
    skip_cert_validation: bool = False
    cert_string: str = ""

    @property
    def vendor(self) -> str:
        return self.url.removeprefix("jdbc:").split(":", 1)[0]

    def as_glue_dict(self) -> dict[str, str]:
        """What AWS's ``extract_jdbc_conf`` returns (AWS Glue's GlueContext API page): ``url``
        is the deprecated form with only protocol, host and port; ``fullUrl`` the URL as entered
        in the connection."""
        parts = urlsplit(self.url.removeprefix("jdbc:"))
        found = {
            "url": f"jdbc:{parts.scheme}://{parts.netloc}",
            "fullUrl": self.url,
            "user": self.user,
            "password": self.password,
            "vendor": self.vendor,
            "enforceSSL": str(self.enforce_ssl).lower(),
        }
        if self.custom_cert:
            found |= {
                "customJDBCCert": self.custom_cert,
                "skipCustomJDBCCertValidation": str(self.skip_cert_validation).lower(),
                "customJDBCCertString": self.cert_string,
            }
        return found

    def with_database(self, database: str | None) -> str:
        if not database:
            return self.url
        parts = urlsplit(self.url.removeprefix("jdbc:"))
        return "jdbc:" + urlunsplit(parts._replace(path=f"/{database}"))

    def libpq_tls(self, s3: Any) -> dict[str, str]:
        """libpq's settings for what the connection asks of TLS: with ``JDBC_ENFORCE_SSL``,
        verified TLS with hostname matching (``verify-full``) against ``CUSTOM_JDBC_CERT``,
        read from S3 with ``s3``, or else libpq's default root certificate."""
        if not self.enforce_ssl:
            return {}
        settings = {"sslmode": "verify-full"}
        if self.custom_cert:
            parts = urlsplit(self.custom_cert)
            if parts.scheme != "s3" or not parts.netloc or not parts.path.strip("/"):
                raise ValueError(
                    f"CUSTOM_JDBC_CERT {self.custom_cert!r} is not an s3://bucket/key location"
                )
            body = s3.get_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"))["Body"].read()
            if b"BEGIN CERTIFICATE" not in body:
                raise ValueError(
                    f"CUSTOM_JDBC_CERT {self.custom_cert} is not a PEM certificate (AWS Glue "
                    "takes X.509 certificates, DER-encoded, in Base64 PEM)"
                )
            path = scratch_dir("warehouse-tls") / "root.crt"
            path.write_bytes(body)
            settings["sslrootcert"] = str(path)
        return settings


def connection_conf(
    glue: Any, name: str, catalog_id: str | None = None, secrets: Any = None
) -> JdbcConf:
    """The JDBC settings of a Glue connection. With ``SECRET_ID`` the credentials are the
    Secrets Manager secret's "username" and "password" keys, as Glue reads them (and take the
    place of USERNAME and PASSWORD); ``secrets`` is the Secrets Manager client, made from the
    Glue client's region when not given."""
    ids = {"CatalogId": catalog_id} if catalog_id else {}
    connection = glue.get_connection(Name=name, HidePassword=False, **ids)["Connection"]
    properties = connection.get("ConnectionProperties", {})
    if "JDBC_CONNECTION_URL" not in properties:
        raise ValueError(f"Glue connection {name!r} has no JDBC_CONNECTION_URL")
    user, password = properties.get("USERNAME", ""), properties.get("PASSWORD", "")
    secret_id = properties.get("SECRET_ID")
    if secret_id:
        import json

        if secrets is None:
            from flightpipe.gluelocal.aws import service_client

            secrets = service_client("secretsmanager", glue.meta.region_name)
        text = secrets.get_secret_value(SecretId=secret_id)["SecretString"]
        try:
            secret = json.loads(text)
            user, password = secret["username"], secret["password"]
        except (ValueError, TypeError, KeyError) as error:
            raise ValueError(
                f"Glue connection {name!r}: secret {secret_id} is not JSON with "
                '"username" and "password" keys'
            ) from error
    return JdbcConf(
        url=properties["JDBC_CONNECTION_URL"],
        user=user,
        password=password,
        enforce_ssl=properties.get("JDBC_ENFORCE_SSL", "false").lower() == "true",
        custom_cert=properties.get("CUSTOM_JDBC_CERT", ""),
        skip_cert_validation=(
            properties.get("SKIP_CUSTOM_JDBC_CERT_VALIDATION", "false").lower() == "true"
        ),
        cert_string=properties.get("CUSTOM_JDBC_CERT_STRING", ""),
    )


@dataclass(frozen=True)
class ConnectorLoad:
    """One write as the connector runs it: the statements are already split and formatted."""

    table: str
    preactions: tuple[str, ...]
    postactions: tuple[str, ...]

    @classmethod
    def from_options(cls, spark_context: Any, options: dict[str, Any]) -> ConnectorLoad:
        table = options.get("dbtable")
        if not table:
            raise ConnectorError(
                "For save operations you must specify a Redshift table name with the 'dbtable' "
                "parameter"
            )
        table = identifier(_text_option(options, "dbtable").strip())
        return cls(
            table,
            connector_statements(spark_context, options, "preactions", table),
            connector_statements(spark_context, options, "postactions", table),
        )

    def run(self, warehouse: Warehouse, schema: T.StructType, parts: Sequence[Path]) -> int:
        """Create, preactions, COPY (if there are rows), postactions: one transaction."""
        with warehouse.transaction() as session:
            session.execute(create_table_sql(self.table, schema, warehouse.dialect))
            for statement in self.preactions:
                session.execute(statement)
            columns = _matching_columns(session, self.table, schema)
            loaded = session.copy_csv(self.table, columns, CsvSource(tuple(parts))) if parts else 0
            for statement in self.postactions:
                session.execute(statement)
        return loaded


# Options of Glue's JDBC writer that only its Redshift connector acts on.
REDSHIFT_ONLY_OPTIONS = ("preactions", "postactions")


@dataclass(frozen=True)
class JdbcLoad:
    """One write through Glue's JDBC writer to a connection that is not Redshift: the rows are
    inserted into ``dbtable`` by column name (created from the frame when missing, as Spark's
    JDBC writer does in append mode).

    AWS documents ``preactions`` and ``postactions`` for Redshift only; on another connection
    Glue's writer does not run them and says nothing. Here they are refused, naming them, so that
    a job relying on them fails locally instead of loading only its staging table on AWS. Glue's
    writer commits each Spark partition on its own; locally the rows commit together, so a job
    must not count on either (the pipeline's jobs stage into a table of their own and swap).
    """

    table: str

    @classmethod
    def from_options(cls, vendor: str, options: dict[str, Any]) -> JdbcLoad:
        given = [name for name in REDSHIFT_ONLY_OPTIONS if name in options]
        if given:
            raise ConnectorError(
                f"{' and '.join(given)} given for a {vendor} connection: AWS Glue runs them only "
                "on Redshift connections and silently skips them on any other, so the SQL would "
                "never run on AWS"
            )
        if not options.get("dbtable"):
            raise ConnectorError("dbtable is required to write through a JDBC connection")
        return cls(identifier(_text_option(options, "dbtable").strip()))

    def run(self, warehouse: Warehouse, schema: T.StructType, parts: Sequence[Path]) -> int:
        with warehouse.transaction() as session:
            session.execute(create_table_sql(self.table, schema, warehouse.dialect))
            columns = _frame_columns_in_table(session, self.table, schema)
            return session.copy_csv(self.table, columns, CsvSource(tuple(parts))) if parts else 0


def connector_statements(
    spark_context: Any, options: dict[str, Any], option: str, table: str
) -> tuple[str, ...]:
    """The statements the connector runs for ``options[option]``, trimmed, split and formatted
    by the JVM exactly as ``Parameters.preActions`` and ``doRedshiftLoad`` do."""
    value = _text_option(options, option) if option in options else DEFAULT_ACTIONS
    if "\n" in value or "\r" in value:
        raise ConnectorError(
            f"{option} contains a line break; AWS Glue's Redshift writer cannot run it "
            "(AWS: the parameter can't contain newline characters)"
        )
    jvm = spark_context._jvm
    trimmed = jvm.org.apache.commons.lang3.StringUtils.trim(value)  # Java's String.trim()
    pieces = list(jvm.java.util.regex.Pattern.compile(";").split(trimmed, 0))
    statements = []
    for position, piece in enumerate(pieces, start=1):
        if not piece.strip():
            raise ConnectorError(f"{option}: statement {position} of {len(pieces)} is empty")
        if "%s" in piece:
            piece = _formatted(spark_context, piece, table, option)
        statements.append(piece)
    return tuple(statements)


def create_table_sql(table: str, schema: T.StructType, dialect: str) -> str:
    """The connector's ``CREATE TABLE IF NOT EXISTS`` for the frame's schema."""
    columns = []
    for field in schema.fields:
        column_type = _column_type(field)
        if dialect == "postgres":
            column_type = _POSTGRES_SPELLING.get(column_type, column_type)
        nullable = "" if field.nullable else " NOT NULL"
        name = field.name.replace('"', '\\"') if dialect == "redshift" else field.name
        columns.append(f'"{name}" {column_type}{nullable}')
    return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(columns)})"


def write_frame(
    frame: DataFrame,
    glue: Any,
    s3: Any,
    connection_name: str,
    options: dict[str, Any],
    redshift_tmp_dir: str = "",
    catalog_id: str | None = None,
) -> int:
    """Load ``frame`` into ``options['dbtable']`` as Glue's writer for the connection's vendor
    does (``ConnectorLoad`` for Redshift, ``JdbcLoad`` otherwise); returns rows loaded."""
    spark_context = frame.sparkSession.sparkContext
    conf = connection_conf(glue, connection_name, catalog_id)
    load: ConnectorLoad | JdbcLoad
    if conf.vendor == "redshift":
        load = ConnectorLoad.from_options(spark_context, options)
    else:
        load = JdbcLoad.from_options(conf.vendor, options)
    url = conf.with_database(options.get("database"))
    tls = conf.libpq_tls(s3) if conf.vendor == "postgresql" else {}
    warehouse = warehouse_from_url(
        url + (("&" if "?" in url else "?") + urlencode(tls) if tls else ""),
        user=conf.user,
        password=conf.password,
        s3_client=s3,
        iam_role_arn=options.get("aws_iam_role", ""),
        staging_s3_uri=redshift_tmp_dir,
    )
    return load.run(warehouse, frame.schema, staged_csv(frame))


def staged_csv(frame: DataFrame) -> list[Path]:
    """``frame`` written as header-less CSV part files in the run's scratch space (the
    connector's CSV staging options: ``""`` escapes a quote, values are not trimmed)."""
    staged = scratch_dir("jdbc-") / "rows"
    frame.write.csv(
        str(staged),
        header=False,
        mode="overwrite",
        escape='"',
        ignoreLeadingWhiteSpace=False,
        ignoreTrailingWhiteSpace=False,
    )
    return [p for p in sorted(staged.glob("part-*")) if p.stat().st_size > 0]


def _text_option(options: dict[str, Any], name: str) -> str:
    value = options[name]
    if not isinstance(value, str):
        raise ConnectorError(f"connection option {name!r} must be text, not {type(value).__name__}")
    return value


def _formatted(spark_context: Any, statement: str, table: str, option: str) -> str:
    jvm = spark_context._jvm
    arguments = spark_context._gateway.new_array(jvm.java.lang.Object, 1)
    arguments[0] = table
    try:
        return str(jvm.java.lang.String.format(statement, arguments))
    except (Py4JJavaError, CapturedException) as error:
        # PySpark turns some Java exceptions into its own, keeping the Java one as _origin.
        cause: Any = getattr(error, "java_exception", None) or getattr(error, "_origin", None)
        java_error = f"{cause.getClass().getName()}: {cause.getMessage()}" if cause else error
        raise ConnectorError(
            f"{option}: the connector formats statements containing %s with Java's "
            f"String.format(statement, table), which fails on {statement[:200]!r}: {java_error}"
        ) from None


def _column_type(field: T.StructField) -> str:
    data_type = field.dataType
    if isinstance(data_type, T.StringType) and "maxlength" in field.metadata:
        return f"VARCHAR({int(field.metadata['maxlength'])})"
    if isinstance(data_type, T.DecimalType):
        return f"DECIMAL({data_type.precision},{data_type.scale})"
    found = _REDSHIFT_TYPES.get(type(data_type))
    if found is None:
        raise ConnectorError(f"Don't know how to save {field} to JDBC")
    return found


def _matching_columns(session: Session, table: str, schema: T.StructType) -> list[str]:
    schema_name, _, table_name = table.rpartition(".")
    rows = session.query(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
        (schema_name or "public", table_name),
    )
    table_columns = [str(row[0]) for row in rows]
    frame_columns = [name.lower() for name in schema.names]
    if frame_columns != table_columns:
        raise ConnectorError(
            f"the frame's columns ({', '.join(frame_columns)}) are not those of {table} "
            f"({', '.join(table_columns)}) in the same order: the connector COPYs without a "
            "column list"
        )
    return table_columns


def _frame_columns_in_table(session: Session, table: str, schema: T.StructType) -> list[str]:
    """The frame's columns, each of which must be one of the table's (Spark's JDBC writer
    matches them by name and fails on a column the table lacks)."""
    schema_name, _, table_name = table.rpartition(".")
    rows = session.query(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = %s AND table_name = %s",
        (schema_name or "public", table_name),
    )
    table_columns = {str(row[0]) for row in rows}
    frame_columns = [name.lower() for name in schema.names]
    missing = [name for name in frame_columns if name not in table_columns]
    if missing:
        raise ConnectorError(
            f"column {', '.join(missing)} of the frame is not a column of {table} "
            f"({', '.join(sorted(table_columns))})"
        )
    return frame_columns
