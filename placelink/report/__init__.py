"""The governance report: one self-contained HTML page per run, for sign-off.

Everything on it is read back from what the run wrote (reconciliation in the standardised files'
metadata, kept validation results, the person index, published tables' metadata), so
`placelink report` rebuilds it without running anything. Its header names the run, the data
period and the code version; beside it, reports/data_docs/ holds one HTML page per kept GX
validation result (each source month, each published table), linked from the report's rows.

The pages are rendered here rather than by GX's Data Docs site builder: that builder reads full
GX validation results from a GX store, and the kept results deliberately hold counts only, never
the unexpected values (a source suite runs on identifiable rows).
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
from jinja2 import Environment, FileSystemLoader, select_autoescape  # noqa: E402

from placelink import __version__  # noqa: E402
from placelink.errors import ConfigError  # noqa: E402
from placelink.expectations import (  # noqa: E402
    GENERATED,
    SuiteResult,
    load_suite,
    published_suite,
    read_result,
    source_suite,
    suite_choice,
    suite_path,
)
from placelink.files import write_text_atomic  # noqa: E402
from placelink.link import person_index_path, record_links_path  # noqa: E402
from placelink.link.person_index import sources_per_person  # noqa: E402
from placelink.pseudonymise import content_path, content_reconciliation  # noqa: E402
from placelink.publish import RUN_ID_KEY, data_period, key_fingerprint  # noqa: E402
from placelink.pull import add_up  # noqa: E402
from placelink.reference import reference_warnings  # noqa: E402
from placelink.settings import Settings  # noqa: E402
from placelink.sources import load_sources  # noqa: E402

TEMPLATES = Path(__file__).parent


@dataclass(frozen=True)
class ReportResult:
    path: Path
    sources: int
    tables: int
    checks_failed: int
    data_docs: int = 0


def build_report(settings: Settings, run_id: str | None = None) -> ReportResult:
    """Gather the run's figures and write reports/quality/index.html and reports/data_docs/.

    `run_id` is the run building the report; without it (`placelink report`), the run that
    wrote the published tables, as their metadata names it.
    """
    report_file = settings.reports / "quality" / "index.html"
    specs = load_sources(settings.sources_file)
    docs = _write_data_docs(settings, report_file, {spec.name: spec for spec in specs})
    sources = [_source_section(settings, spec, docs) for spec in specs]
    tables = _published_tables(settings, docs)
    linkage = _linkage_section(settings)
    period = data_period(settings.content)
    table_runs = sorted({t["run_id"] for t in tables if t["run_id"]})
    checks_failed = sum(s["checks_failed"] for s in sources) + sum(
        1 for t in tables if t["check"] and not t["check"]["success"]
    )
    html = (
        _environment()
        .get_template("quality.html.j2")
        .render(
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            version=code_version(),
            run_id=run_id or ", ".join(table_runs) or "unknown (no published table names it)",
            table_runs=table_runs,
            period=f"{period[0]} to {period[1]}" if period else "unknown (no data pulled yet)",
            data_docs_index=_href(report_file, settings.reports / "data_docs" / "index.html"),
            fingerprint=key_fingerprint(settings.content) or "none (nothing pseudonymised yet)",
            sources=sources,
            linkage=linkage,
            tables=tables,
            checks_failed=checks_failed,
            reconciled=all(s["reconciles"] for s in sources),
            settings=settings,
            chart_sources=_chart_sources(sources),
            warnings=reference_warnings(settings),
        )
    )
    path = write_text_atomic(html, report_file)
    return ReportResult(path, len(sources), len(tables), checks_failed, len(docs))


def code_version() -> str:
    """placelink's version, with the git commit of its code when git can tell it."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__} (commit {commit})" if commit else __version__


def _href(page: Path, target: Path) -> str:
    """A link from `page` to `target` that works wherever the data home is copied."""
    return Path(os.path.relpath(target, page.parent)).as_posix()


def _write_data_docs(
    settings: Settings, report_file: Path, specs: dict | None = None
) -> dict[Path, str]:
    """One HTML page per kept validation result, and an index: result file -> link from the
    report. Pages of results no longer kept are removed. `specs`: the sources by name, whose
    suites give the pages their expectations' settings."""
    specs = specs or {}
    validations = settings.reports / "validations"
    root = settings.reports / "data_docs"
    env = _environment()
    page_template = env.get_template("validation.html.j2")
    pages: list[dict] = []
    for result_file in sorted(validations.glob("*/*.json")):
        group, stem = result_file.parent.name, result_file.stem
        if group == "published":
            kind, name, title, page = "published", stem, stem, root / "published" / f"{stem}.html"
        else:
            kind, name, title = "sources", group, f"{group} {stem}"
            page = root / "sources" / group / f"{stem}.html"
        result = read_result(result_file)
        write_text_atomic(
            page_template.render(
                title=title,
                kind=kind,
                result=result,
                rows=_expectation_rows(result, _suite_expectations(kind, name, specs)),
                kept=result_file.relative_to(settings.reports).as_posix(),
                report=_href(page, report_file),
                index=_href(page, root / "index.html"),
            ),
            page,
        )
        pages.append(
            {
                "source": result_file,
                "page": page,
                "title": title,
                "kind": kind,
                "success": result.success,
                "href": _href(root / "index.html", page),
            }
        )
    if pages or root.exists():
        write_text_atomic(
            env.get_template("data_docs_index.html.j2").render(
                pages=pages, report=_href(root / "index.html", report_file)
            ),
            root / "index.html",
        )
        kept = {p["page"] for p in pages} | {root / "index.html"}
        for stale in root.rglob("*.html"):
            if stale not in kept:
                stale.unlink()
    return {p["source"]: _href(report_file, p["page"]) for p in pages}


def _suite_expectations(kind: str, name: str, specs: dict) -> list[dict]:
    """The expectations of the suite a kept result came from, as configured now: a source's
    own, packaged or generated suite, or a published table's."""
    try:
        if kind == "sources" and name in specs:
            return list(source_suite(specs[name]).suite["expectations"])
        return list(load_suite(suite_path(kind, name))["expectations"])
    except ConfigError:  # a suite renamed or removed since: show the outcomes alone
        return []


def _expectation_rows(result: SuiteResult, specs: list[dict]) -> list[dict]:
    """Each outcome with its expectation's settings and reason from the suite, matched by
    type and column in order (settings are configuration, never row values)."""
    specs = list(specs)
    rows = []
    for outcome in result.outcomes:
        spec = next(
            (
                e
                for e in specs
                if e["type"] == outcome.expectation
                and e.get("kwargs", {}).get("column") == outcome.column
            ),
            None,
        )
        if spec is not None:
            specs.remove(spec)
        kwargs = {k: v for k, v in (spec or {}).get("kwargs", {}).items() if k != "column"}
        rows.append(
            {
                "outcome": outcome,
                "settings": ", ".join(f"{k}={json.dumps(v)}" for k, v in kwargs.items()),
                "why": (spec or {}).get("meta", {}).get("why", ""),
            }
        )
    return rows


def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())


def _source_section(settings: Settings, spec, docs: dict[Path, str]) -> dict:
    content = content_path(settings, spec.name)
    totals = add_up(content_reconciliation(content) if content.exists() else [])
    validations = sorted((settings.reports / "validations" / spec.name).glob("*.json"))
    results = [read_result(v) for v in validations]
    failed = [(v.stem, r) for v, r in zip(validations, results, strict=True) if not r.success]
    return {
        **_suite_section(spec, results),
        "name": spec.name,
        "service": spec.service if spec.has_event else f"{spec.service or ''} (identity only)",
        "connector": spec.connector.kind,
        **asdict(totals),
        "suites_run": len(results),
        "checks_failed": len(failed),
        "failures": [f"{month}: {r.describe_failures()}" for month, r in failed],
        "validations": [
            {"month": v.stem, "success": r.success, "href": docs.get(v)}
            for v, r in zip(validations, results, strict=True)
        ],
    }


def _suite_section(spec, results: list[SuiteResult]) -> dict:
    """Which suite ran on the source (the latest kept result says; before any, the one that
    would run), and whether it was generated by default."""
    ran = next((r for r in reversed(results) if r.origin), None)
    if ran is not None:
        origin, file = ran.origin, ran.suite_file
    else:
        origin, path = suite_choice(spec)
        file = None if path is None else str(path)
    if origin == GENERATED:
        label = "generated by default from the identity fields (the source names no suite)"
    else:
        label = f"{file} ({origin})"
    return {"suite": label, "suite_generated": origin == GENERATED}


def _linkage_section(settings: Settings) -> dict | None:
    links_file = record_links_path(settings)
    if not links_file.exists():
        return None
    links = pd.read_parquet(links_file)
    index = pd.read_parquet(person_index_path(settings))
    sources = sources_per_person(links)
    section = {
        "records": len(links),
        "persons": len(sources),
        "multi_source": int((sources > 1).sum()),
        "merged_ids": int(index["merged_into"].notna().sum()),
        "evaluation": None,
        "chart": _chart_bars(sources.value_counts().sort_index(), "sources per person", "persons"),
    }
    eval_file = settings.reports / "linkage_eval.json"
    if eval_file.exists():
        evaluation = json.loads(eval_file.read_text(encoding="utf-8"))
        section["evaluation"] = evaluation
        subgroup_f1 = {
            f"{column}={value}": score["f1"]
            for column, values in evaluation["by_subgroup"].items()
            if column != "neighbourhood"
            for value, score in values.items()
        }
        scores = pd.Series(subgroup_f1, dtype="float64")
        if scores.empty:  # a truth of the user's own, with no subgroup columns
            return section
        # From just below the lowest score, not from 0: a one-point gap between groups shows.
        low = max(0.0, min(scores.min(), 0.99) - 0.01)
        section["f1_chart"] = _chart_bars(
            scores, f"pairwise F1 by subgroup (axis from {low:.2f})", "F1", horizontal=True,
            value_range=(low, 1.0),
        )  # fmt: skip
    return section


def _published_tables(settings: Settings, docs: dict[Path, str]) -> list[dict]:
    tables = []
    for path in sorted(settings.published.glob("*/*.parquet")):
        schema = pq.read_schema(path)
        meta = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
        check_file = settings.reports / "validations" / "published" / f"{path.stem}.json"
        try:
            warning = published_suite(path.stem, settings.reference).warning
        except ConfigError:
            warning = None
        check = read_result(check_file) if check_file.exists() else None
        tables.append(
            {
                "name": path.stem,
                "folder": path.parent.name,
                "rows": pq.ParquetFile(path).metadata.num_rows,
                "columns": len(schema),
                "description": meta.get("description", ""),
                "sdc": json.loads(meta["placelink.sdc"]) if "placelink.sdc" in meta else None,
                "run_id": meta.get(RUN_ID_KEY),
                "href": docs.get(check_file),
                "warning": warning,
                "check": None
                if check is None
                else {"success": check.success, "failures": check.describe_failures()},
            }
        )
    return tables


def _chart_sources(sources: list[dict]) -> str:
    frame = pd.DataFrame(sources).set_index("name")[["valid", "quarantined"]]
    return _chart_bars(frame, "records per source", "records", stacked=True)


def _chart_bars(
    data: pd.Series | pd.DataFrame,
    title: str,
    ylabel: str,
    horizontal: bool = False,
    stacked: bool = False,
    value_range: tuple[float, float] | None = None,
) -> str:
    """A bar chart as an inline PNG, so the report is one file that works offline. With a
    `value_range`, the value axis spans only it and each bar is labelled with its value."""
    fig, ax = plt.subplots(figsize=(7, 3.2 if not horizontal else max(3, 0.28 * len(data))))
    data.plot(kind="barh" if horizontal else "bar", ax=ax, stacked=stacked, color=None)
    if value_range is not None:
        (ax.set_xlim if horizontal else ax.set_ylim)(*value_range)
        for container in ax.containers:
            ax.bar_label(container, fmt="%.3f", fontsize=7, padding=2)
    ax.set_title(title)
    ax.set_xlabel(ylabel if horizontal else "")
    ax.set_ylabel("" if horizontal else ylabel)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
