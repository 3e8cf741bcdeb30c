"""The governance report: one self-contained HTML page per run, for sign-off.

Everything on it is read back from what the run wrote (reconciliation in the standardised files'
metadata, kept validation results, the person index, published tables' metadata), so
`placelink report` rebuilds it without running anything.
"""

from __future__ import annotations

import base64
import io
import json
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
from placelink.encode import file_key_fingerprint  # noqa: E402
from placelink.expectations import read_result  # noqa: E402
from placelink.files import write_text_atomic  # noqa: E402
from placelink.link import person_index_path, record_links_path
from placelink.link.person_index import sources_per_person  # noqa: E402
from placelink.pseudonymise import content_path, content_reconciliation  # noqa: E402
from placelink.pull import add_up  # noqa: E402
from placelink.settings import Settings  # noqa: E402
from placelink.sources import load_sources  # noqa: E402

TEMPLATES = Path(__file__).parent


@dataclass(frozen=True)
class ReportResult:
    path: Path
    sources: int
    tables: int
    checks_failed: int


def build_report(settings: Settings) -> ReportResult:
    """Gather the run's figures and write reports/quality/index.html."""
    sources = [_source_section(settings, spec) for spec in load_sources(settings.sources_file)]
    tables = _published_tables(settings)
    linkage = _linkage_section(settings)
    checks_failed = sum(s["checks_failed"] for s in sources) + sum(
        1 for t in tables if t["check"] and not t["check"]["success"]
    )
    html = (
        Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
        .get_template("quality.html.j2")
        .render(
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            version=__version__,
            fingerprint=_key_fingerprint(settings),
            sources=sources,
            linkage=linkage,
            tables=tables,
            checks_failed=checks_failed,
            reconciled=all(s["reconciles"] for s in sources),
            settings=settings,
            chart_sources=_chart_sources(sources),
        )
    )
    path = write_text_atomic(html, settings.reports / "quality" / "index.html")
    return ReportResult(path, len(sources), len(tables), checks_failed)


def _key_fingerprint(settings: Settings) -> str:
    """The key's fingerprint as the content files carry it: the report needs no key."""
    fingerprints = {file_key_fingerprint(f) or "none" for f in settings.content.glob("*.parquet")}
    return ", ".join(sorted(fingerprints)) or "none (nothing pseudonymised yet)"


def _source_section(settings: Settings, spec) -> dict:
    content = content_path(settings, spec.name)
    totals = add_up(content_reconciliation(content) if content.exists() else [])
    validations = sorted((settings.reports / "validations" / spec.name).glob("*.json"))
    results = [read_result(v) for v in validations]
    failed = [(v.stem, r) for v, r in zip(validations, results, strict=True) if not r.success]
    return {
        "name": spec.name,
        "service": spec.service,
        "connector": spec.connector.kind,
        **asdict(totals),
        "suites_run": len(results),
        "checks_failed": len(failed),
        "failures": [f"{month}: {r.describe_failures()}" for month, r in failed],
    }


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
        section["f1_chart"] = _chart_bars(
            pd.Series(subgroup_f1), "pairwise F1", "F1", horizontal=True
        )
    return section


def _published_tables(settings: Settings) -> list[dict]:
    tables = []
    for path in sorted(settings.published.glob("*/*.parquet")):
        schema = pq.read_schema(path)
        meta = {k.decode(): v.decode() for k, v in (schema.metadata or {}).items()}
        check_file = settings.reports / "validations" / "published" / f"{path.stem}.json"
        check = read_result(check_file) if check_file.exists() else None
        tables.append(
            {
                "name": path.stem,
                "folder": path.parent.name,
                "rows": pq.ParquetFile(path).metadata.num_rows,
                "columns": len(schema),
                "description": meta.get("description", ""),
                "sdc": json.loads(meta["placelink.sdc"]) if "placelink.sdc" in meta else None,
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
) -> str:
    """A bar chart as an inline PNG, so the report is one file that works offline."""
    fig, ax = plt.subplots(figsize=(7, 3.2 if not horizontal else max(3, 0.28 * len(data))))
    data.plot(kind="barh" if horizontal else "bar", ax=ax, stacked=stacked, color=None)
    ax.set_title(title)
    ax.set_xlabel(ylabel if horizontal else "")
    ax.set_ylabel("" if horizontal else ylabel)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
