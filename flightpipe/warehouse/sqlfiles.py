"""The warehouse DDL in ``sql/``, and its one translation from Redshift to PostgreSQL.

``sql/`` holds the Redshift DDL only, one object per numbered file. PostgreSQL stands in for
Redshift locally, so the same files must apply there: this module parses each statement with
sqlglot's Redshift dialect, removes the clauses that only describe Redshift's physical layout
(distribution style and key, sort key, column compression, backup), and renders the result for
PostgreSQL. sqlglot alone cannot do it: asked to transpile ``COMPOUND SORTKEY (...)`` it fails,
and it would silently keep clauses PostgreSQL rejects. Any other Redshift-only construct fails
loudly here rather than being guessed at, so a second, hand-kept copy of the DDL is never needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp

from flightpipe.paths import SQL_DIR

# Physical-layout clauses: they change where Redshift stores rows, never what a query returns.
_LAYOUT_PROPERTIES: tuple[type[exp.Expression], ...] = (
    exp.DistStyleProperty,
    exp.DistKeyProperty,
    exp.SortKeyProperty,
    exp.BackupProperty,
)
_LAYOUT_CONSTRAINTS: tuple[type[exp.Expression], ...] = (exp.EncodeColumnConstraint,)
_FILE_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


class SqlTranslationError(ValueError):
    """A statement in ``sql/`` cannot be rendered for PostgreSQL."""


@dataclass(frozen=True)
class SqlFile:
    """One numbered DDL file."""

    path: Path
    order: int

    @property
    def redshift(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def postgres(self) -> str:
        return to_postgres(self.redshift, source=self.path.name)


def sql_files(sql_dir: Path = SQL_DIR) -> list[SqlFile]:
    """The DDL files in apply order; a file not named ``NNN_name.sql`` is an error."""
    files = []
    for path in sorted(sql_dir.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if match is None:
            raise SqlTranslationError(f"{path.name}: DDL files are named NNN_lowercase_name.sql")
        files.append(SqlFile(path=path, order=int(match.group(1))))
    orders = [f.order for f in files]
    if len(set(orders)) != len(orders):
        raise SqlTranslationError(f"two DDL files share an order number in {sql_dir}")
    return files


def to_postgres(redshift_sql: str, source: str = "<sql>") -> str:
    """Render Redshift DDL for PostgreSQL: same objects, without Redshift's layout clauses."""
    statements = []
    for statement in sqlglot.parse(redshift_sql, read="redshift"):
        if statement is None:
            continue
        _strip_layout(statement)
        try:
            rendered = statement.sql(dialect="postgres", unsupported_level=sqlglot.ErrorLevel.RAISE)
        except sqlglot.errors.SqlglotError as error:
            raise SqlTranslationError(f"{source}: {error}") from error
        statements.append(rendered + ";")
    return "\n".join(statements)


def _strip_layout(statement: exp.Expr) -> None:
    for node in list(statement.find_all(*_LAYOUT_PROPERTIES, *_LAYOUT_CONSTRAINTS)):
        parent = node.parent
        node.pop()
        if isinstance(parent, exp.ColumnConstraint) and parent.args.get("kind") is None:
            parent.pop()
    properties = statement.args.get("properties")
    if isinstance(properties, exp.Properties) and not properties.expressions:
        properties.pop()
