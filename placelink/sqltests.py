"""schema.yml column tests run as SQL against a built model, on DuckDB and PostgreSQL alike.

A test is written as dbt writes it: a bare name (`unique`, `not_null`) or a one-key mapping
with its arguments (`accepted_values: {values: [...]}`, `relationships: {to: ref('m'),
field: c}`). `parse_test` turns one schema.yml entry into a ColumnTest when the project loads,
so a misspelt or unimplemented test stops the load instead of checking nothing. Each test's SQL
counts the rows that break it; nulls break only `not_null`, as in dbt.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text

from placelink.errors import ConfigError, PlacelinkError

if TYPE_CHECKING:
    from placelink.sqlmodels import SqlProject

__all__ = [
    "TESTS",
    "ColumnTest",
    "SchemaTestResult",
    "count_sql",
    "parse_test",
    "run_schema_tests",
]

_REF = re.compile(r"""^\s*ref\(\s*(['"])([a-z_][a-z0-9_]*)\1\s*\)\s*$""")


@dataclass(frozen=True)
class ColumnTest:
    """One test on one column: its name and its arguments (empty for unique and not_null)."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        if self.name == "accepted_values":
            return f"accepted_values [{', '.join(map(str, self.args['values']))}]"
        if self.name == "relationships":
            return f"relationships to {self.args['to']}.{self.args['field']}"
        return self.name


Ref = Callable[[str], str]  # a model's name -> the table it is built into


def _not_null(table: str, column: str, args: Mapping[str, Any], ref: Ref) -> str:
    return f'select count(*) from {table} where "{column}" is null'


def _unique(table: str, column: str, args: Mapping[str, Any], ref: Ref) -> str:
    return (
        f'select count(*) from (select "{column}" from {table} where "{column}" is not null '
        f'group by "{column}" having count(*) > 1) as duplicated'
    )


def _accepted_values(table: str, column: str, args: Mapping[str, Any], ref: Ref) -> str:
    values = ", ".join(_literal(v) for v in args["values"])
    return (
        f'select count(*) from {table} where "{column}" is not null '
        f'and "{column}" not in ({values})'
    )


def _relationships(table: str, column: str, args: Mapping[str, Any], ref: Ref) -> str:
    return (
        f'select count(*) from {table} as child where child."{column}" is not null '
        f"and not exists (select 1 from {ref(args['to'])} as parent "
        f'where parent."{args["field"]}" = child."{column}")'
    )


# name -> (the arguments it takes, the SQL counting the rows that break it)
TESTS: dict[str, tuple[tuple[str, ...], Callable[[str, str, Mapping[str, Any], Ref], str]]] = {
    "not_null": ((), _not_null),
    "unique": ((), _unique),
    "accepted_values": (("values",), _accepted_values),
    "relationships": (("to", "field"), _relationships),
}


def parse_test(model: str, column: str, entry: Any) -> ColumnTest:
    """One schema.yml test entry as a ColumnTest; ConfigError naming model, column and test.

    Checks the name and the arguments' shapes only; `parse_test` does not know the other
    models, so `relationships`' target is checked by the project loader.
    """
    where = f"schema.yml: model {model}, column {column}"
    if isinstance(entry, str):
        name, args = entry, {}
    elif isinstance(entry, dict) and len(entry) == 1:
        name, args = next(iter(entry.items()))
        args = {} if args is None else args
    else:
        raise ConfigError(f"{where}: a test is a name or a one-key mapping, not {entry!r}")
    if name not in TESTS:
        known = ", ".join(sorted(TESTS))
        raise ConfigError(f"{where}: unknown test {name!r} (known tests: {known})")
    wanted = TESTS[name][0]
    if not isinstance(args, dict) or set(args) != set(wanted):
        needs = ", ".join(wanted) if wanted else "no arguments"
        raise ConfigError(f"{where}: test {name!r} takes {needs}, not {args!r}")
    if name == "accepted_values":
        values = args["values"]
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values)
        ):
            raise ConfigError(
                f"{where}: test 'accepted_values' needs values: a non-empty list of strings "
                f"or numbers, not {values!r}"
            )
        args = {"values": tuple(values)}
    if name == "relationships":
        target = _REF.match(str(args["to"]))
        if not target:
            raise ConfigError(
                f"{where}: test 'relationships' needs to: ref('model'), not {args['to']!r}"
            )
        if not isinstance(args["field"], str):
            raise ConfigError(f"{where}: test 'relationships' needs field: a column name")
        args = {"to": target.group(2), "field": args["field"]}
    return ColumnTest(name, args)


def count_sql(table: str, column: str, test: ColumnTest, ref: Ref = str) -> str:
    """The SQL counting `table`'s rows whose `column` breaks `test`; `ref` names other models'
    tables (for relationships)."""
    try:
        render = TESTS[test.name][1]
    except KeyError:
        raise PlacelinkError(f"unknown schema test {test.name!r} on {table}.{column}") from None
    return render(table, column, test.args, ref)


@dataclass(frozen=True)
class SchemaTestResult:
    model: str
    column: str
    test: str
    failures: int

    @property
    def passed(self) -> bool:
        return self.failures == 0

    @property
    def label(self) -> str:
        return f"{self.test}({self.column})"


def run_schema_tests(engine: Engine, project: SqlProject, name: str) -> list[SchemaTestResult]:
    """Count the rows that break each test declared for the model's columns."""
    table = project.table_name(name)
    results = []
    with engine.connect() as connection:
        for column in project.models[name].columns.values():
            for test in column.tests:
                sql = count_sql(table, column.name, test, project.table_name)
                failures = connection.execute(text(sql)).scalar_one()
                results.append(SchemaTestResult(name, column.name, test.name, int(failures)))
    return results


def _literal(value: str | int | float) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)
