"""schema.yml column tests (`unique`, `not_null`) run as SQL against a built model."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, text

from placelink.sqlmodels import SqlProject

TESTS = {
    "not_null": 'select count(*) from {table} where "{column}" is null',
    "unique": (
        'select count(*) from (select "{column}" from {table} where "{column}" is not null '
        'group by "{column}" having count(*) > 1) as duplicated'
    ),
}


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
                if test not in TESTS:
                    continue
                sql = TESTS[test].format(table=table, column=column.name)
                failures = connection.execute(text(sql)).scalar_one()
                results.append(SchemaTestResult(name, column.name, test, int(failures)))
    return results
