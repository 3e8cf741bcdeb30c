"""The dbt_like_sql runner: parse models, resolve refs into a DAG, render, run through SQLAlchemy.

A model is `models/<name>.sql`, a Jinja template whose `{{ ref('m') }}` and
`{{ source('placelink', 'x') }}` calls are both its dependencies and, once rendered, the table
names it reads; `meta` is the model's schema.yml meta, so a list defined there (the measures)
is defined once. Macros in `macros/*.sql` are callable from every model, so dialect-sensitive
expressions live in one place. The declared sources (sources.yaml) are `declared_sources` in
every template; each becomes a raw table, and one without a hand-written staging model gets a
generated one (placelink.sqlsources). Each model becomes a table built atomically: a failed model
leaves the previous table in place.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml
from jinja2.runtime import Macro
from sqlalchemy import Engine, text

from placelink.errors import ConfigError, PlacelinkError
from placelink.sources import SourceSpec
from placelink.sqlsources import (
    GENERATED_STAGING,
    source_context,
    staging_columns,
    staging_model,
)
from placelink.sqltests import ColumnTest, parse_test

__all__ = [
    "ColumnSpec",
    "ModelResult",
    "SqlModel",
    "SqlProject",
    "load_project",
    "run_all",
    "run_model",
]

SOURCE_PACKAGE = "placelink"
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")


@dataclass(frozen=True)
class ColumnSpec:
    """A column as schema.yml describes it."""

    name: str
    description: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)
    tests: tuple[ColumnTest, ...] = ()

    @property
    def test_names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tests)


@dataclass(frozen=True)
class SqlModel:
    """One model: its template text, what it reads, and its documentation."""

    name: str
    path: Path
    sql: str
    refs: tuple[str, ...]
    sources: tuple[str, ...]
    description: str = ""
    columns: Mapping[str, ColumnSpec] = field(default_factory=dict)
    meta: Mapping[str, Any] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    """Template variables of this model alone (a generated staging model's `src`)."""

    @property
    def publish(self) -> str | None:
        """`person`, `aggregate` or None: where (if anywhere) the model is published."""
        return self.meta.get("publish")


@dataclass(frozen=True)
class ModelResult:
    """What running one model produced."""

    name: str
    rows: int
    seconds: float
    columns: list[str]


@dataclass
class SqlProject:
    """A parsed dbt_like_sql folder: models, declared sources and macros."""

    path: Path
    models: dict[str, SqlModel]
    sources: dict[str, str]
    _env: jinja2.Environment

    def table_name(self, model: str) -> str:
        """The warehouse table a model is built into (its own name)."""
        return model

    def order(self, select: Iterable[str] | None = None) -> list[str]:
        """Models in dependency order; with `select`, only those (dependencies are not added).

        Ties are broken by name so the order is stable from run to run.
        """
        wanted = set(self.models) if select is None else set(select)
        unknown = wanted - set(self.models)
        if unknown:
            raise PlacelinkError(f"unknown model(s): {', '.join(sorted(unknown))}")
        remaining = {n: set(self.models[n].refs) for n in self.models}
        done: list[str] = []
        while remaining:
            ready = sorted(n for n, deps in remaining.items() if not deps)
            if not ready:
                raise PlacelinkError(
                    f"models depend on each other in a cycle: {', '.join(_cycle(remaining))}"
                )
            for n in ready:
                done.append(n)
                del remaining[n]
            for deps in remaining.values():
                deps.difference_update(ready)
        return [n for n in done if n in wanted]

    def render(self, name: str) -> str:
        """The model's SQL with refs and sources replaced by table names."""
        model = self._model(name)

        def ref(target: str) -> str:
            if target not in self.models:
                raise PlacelinkError(f"model {name} refers to unknown model {target!r}")
            return self.table_name(target)

        def source(package: str, table: str) -> str:
            return _source_table(name, package, table, self.sources)

        try:
            template = self._env.from_string(model.sql)
            return template.render(ref=ref, source=source, meta=model.meta, **model.context).strip()
        except jinja2.TemplateError as exc:
            raise PlacelinkError(f"model {name} ({model.path}) does not render: {exc}") from exc

    def _model(self, name: str) -> SqlModel:
        try:
            return self.models[name]
        except KeyError:
            raise PlacelinkError(f"unknown model {name!r}") from None


def load_project(path: Path, declared: Sequence[SourceSpec] = ()) -> SqlProject:
    """Parse `models/*.sql`, `macros/*.sql`, `schema.yml` and `sources.yml` under `path`, with
    the sources the sources file declares (`declared`): each is a raw table, and one with no
    `models/stg_<name>.sql` gets a staging model generated from `generated/staging.sql`.

    Raises PlacelinkError for a missing folder, a bad model name, an unknown ref or source,
    schema entries for models that do not exist, or a cycle; ConfigError for a column test
    that is unknown, malformed, or (relationships) points at a model or column that is not
    upstream of the tested model.
    """
    path = Path(path)
    models_dir = path / "models"
    if not models_dir.is_dir():
        raise PlacelinkError(f"{models_dir}: no models folder")
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    for macro_file in sorted((path / "macros").glob("*.sql")):
        module = env.from_string(macro_file.read_text(encoding="utf-8")).module
        env.globals.update(
            {k: v for k, v in vars(module).items() if isinstance(v, Macro) and k[0] != "_"}
        )
    contexts = [
        source_context(s, (models_dir / f"{staging_model(s.name)}.sql").exists()) for s in declared
    ]
    env.globals["declared_sources"] = contexts
    sources = _load_sources(path / "sources.yml") | {s.name: s.description for s in declared}
    docs = _load_schema(path / "schema.yml")
    models: dict[str, SqlModel] = {}
    for sql_file in sorted(models_dir.glob("*.sql")):
        name = sql_file.stem
        if not _NAME.match(name):
            raise PlacelinkError(f"{sql_file}: model names are lower_snake_case")
        sql = sql_file.read_text(encoding="utf-8")
        doc = docs.get(name, {})
        refs, srcs = _dependencies(env, name, sql_file, sql, doc.get("meta") or {})
        models[name] = SqlModel(
            name=name,
            path=sql_file,
            sql=sql,
            refs=refs,
            sources=srcs,
            description=(doc.get("description") or "").strip(),
            columns=_columns(name, doc.get("columns") or []),
            meta=doc.get("meta") or {},
        )
    undocumented = set(docs) - set(models)
    if undocumented:
        raise PlacelinkError(f"schema.yml describes missing model(s): {sorted(undocumented)}")
    for context in contexts:
        if not context["hand_written"]:
            model = _generated_staging(env, path / GENERATED_STAGING, context)
            models[model.name] = model
    models = _without_undeclared_sources(models, sources)
    for model in models.values():
        for target in model.refs:
            if target not in models:
                raise PlacelinkError(f"model {model.name} refers to unknown model {target!r}")
        for table in model.sources:
            _source_table(model.name, SOURCE_PACKAGE, table, sources)
    project = SqlProject(path=path, models=models, sources=sources, _env=env)
    project.order()  # fail early on a cycle
    for model in models.values():
        _check_relationships(project, model)
    return project


def _without_undeclared_sources(
    models: dict[str, SqlModel], sources: Mapping[str, str]
) -> dict[str, SqlModel]:
    """The models less the staging model of each source the sources file does not declare
    (a hand-written stg_<source>.sql of a demo source left out of it) and every model that
    reads one, directly or not: what is about a source that is not there is not built."""
    left_out = {
        name
        for name, model in models.items()
        if sources and any(name == staging_model(t) and t not in sources for t in model.sources)
    }
    while True:
        readers = {n for n, m in models.items() if n not in left_out and left_out & set(m.refs)}
        if not readers:
            return {n: m for n, m in models.items() if n not in left_out}
        left_out |= readers


def _generated_staging(env: jinja2.Environment, template: Path, src: dict[str, Any]) -> SqlModel:
    """The staging model of a declared source that has no hand-written one."""
    name = staging_model(src["name"])
    sql = template.read_text(encoding="utf-8")
    refs, srcs = _dependencies(env, name, template, sql, {}, {"src": src})
    return SqlModel(
        name=name,
        path=template,
        sql=sql,
        refs=refs,
        sources=srcs,
        description=f"{src['name']} records, typed (generated from sources.yaml).",
        columns={c: ColumnSpec(c, d) for c, d in staging_columns(src).items()},
        context={"src": src},
    )


def run_model(engine: Engine, project: SqlProject, name: str) -> ModelResult:
    """Build one model's table atomically and report its rows and columns.

    The new table is created as `<name>__new` and swapped in within one transaction, so a
    model whose SQL fails leaves the previous table untouched.
    """
    sql = project.render(name)
    table = project.table_name(name)
    staging = f"{table}__new"
    started = time.perf_counter()
    try:
        with engine.begin() as conn:
            conn.execute(text(f"drop table if exists {staging}"))
            conn.execute(text(f"create table {staging} as\n{sql}"))
            conn.execute(text(f"drop table if exists {table}"))
            conn.execute(text(f"alter table {staging} rename to {table}"))
            rows = conn.execute(text(f"select count(*) from {table}")).scalar_one()
            columns = list(conn.execute(text(f"select * from {table} where 1 = 0")).keys())
    except Exception as exc:  # the driver's error, reworded to name the model
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        raise PlacelinkError(f"model {name} failed: {detail}") from exc
    return ModelResult(name, int(rows), time.perf_counter() - started, columns)


def run_all(
    engine: Engine, project: SqlProject, select: list[str] | None = None
) -> list[ModelResult]:
    """Run the selected models (default: all) in dependency order; stop at the first failure."""
    return [run_model(engine, project, name) for name in project.order(select)]


def _dependencies(
    env: jinja2.Environment,
    name: str,
    path: Path,
    sql: str,
    meta: Mapping[str, Any],
    context: Mapping[str, Any] | None = None,
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Render once with recording ref/source so the DAG is exactly what the template calls."""
    refs: list[str] = []
    sources: list[str] = []

    def ref(target: str) -> str:
        refs.append(target)
        return target

    def source(package: str, table: str) -> str:
        if package != SOURCE_PACKAGE:
            raise PlacelinkError(f"model {name}: unknown source package {package!r}")
        sources.append(table)
        return table

    try:
        env.from_string(sql).render(ref=ref, source=source, meta=meta, **(context or {}))
    except jinja2.TemplateError as exc:
        raise PlacelinkError(f"{path}: does not render: {exc}") from exc
    return tuple(dict.fromkeys(refs)), tuple(dict.fromkeys(sources))


def _source_table(model: str, package: str, table: str, sources: Mapping[str, str]) -> str:
    if package != SOURCE_PACKAGE:
        raise PlacelinkError(f"model {model}: unknown source package {package!r}")
    if sources and table not in sources:
        raise PlacelinkError(
            f"model {model}: source {table!r} is declared neither in the sources file nor in "
            "sources.yml"
        )
    return f"raw_{table}"


# libyaml's safe loader where PyYAML has it: the schema files take a third of a second in pure
# Python, and every step process of a multiprocess run loads the project again.
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _load_yaml(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=SAFE_LOADER) or {}
    except yaml.YAMLError as exc:
        raise PlacelinkError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise PlacelinkError(f"{path}: expected a mapping at the top level")
    return data


def _load_sources(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for src in _load_yaml(path).get("sources") or []:
        if src.get("name") != SOURCE_PACKAGE:
            raise PlacelinkError(f"{path}: only the {SOURCE_PACKAGE!r} source package is known")
        for table in src.get("tables") or []:
            out[table["name"]] = (table.get("description") or "").strip()
    return out


def _load_schema(path: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for entry in _load_yaml(path).get("models") or []:
        if "name" not in entry:
            raise PlacelinkError(f"{path}: a model entry has no name")
        out[entry["name"]] = entry
    return out


def _columns(model: str, entries: list[dict[str, Any]]) -> dict[str, ColumnSpec]:
    cols: dict[str, ColumnSpec] = {}
    for entry in entries:
        tests = tuple(parse_test(model, entry["name"], t) for t in entry.get("tests") or [])
        cols[entry["name"]] = ColumnSpec(
            name=entry["name"],
            description=(entry.get("description") or "").strip(),
            meta=entry.get("meta") or {},
            tests=tests,
        )
    return cols


def _check_relationships(project: SqlProject, model: SqlModel) -> None:
    """A relationships test reads another model's table, so that model must be built first:
    it must exist, be upstream of the tested model, and describe the field."""
    upstream = _upstream(project, model.name)
    for column in model.columns.values():
        for test in column.tests:
            if test.name != "relationships":
                continue
            where = f"schema.yml: model {model.name}, column {column.name}"
            target, target_field = test.args["to"], test.args["field"]
            if target not in project.models:
                raise ConfigError(
                    f"{where}: test 'relationships' refers to unknown model {target!r}"
                )
            if target not in upstream:
                raise ConfigError(
                    f"{where}: test 'relationships' refers to {target!r}, which is not upstream "
                    f"of {model.name} (it could be tested before {target} is built)"
                )
            if target_field not in project.models[target].columns:
                raise ConfigError(
                    f"{where}: test 'relationships' refers to {target}.{target_field}, "
                    f"a column schema.yml does not describe"
                )


def _upstream(project: SqlProject, name: str) -> set[str]:
    """Every model `name` reads, directly or through other models."""
    seen: set[str] = set()
    todo = list(project.models[name].refs)
    while todo:
        ref = todo.pop()
        if ref not in seen:
            seen.add(ref)
            todo.extend(project.models[ref].refs)
    return seen


def _cycle(remaining: Mapping[str, set[str]]) -> list[str]:
    """One cycle among models that could not be ordered, named start to start."""
    start = min(remaining)
    path = [start]
    node = start
    while True:
        node = min(d for d in remaining[node] if d in remaining)
        if node in path:
            return path[path.index(node) :] + [node]
        path.append(node)
