"""The link step: Splink over every source's encodings, then the stable person index.

The linkage unit's step: it reads linkage/encoded (record pseudonyms and encodings) and nothing
else, holds no key, and writes record pseudonym → internal person id.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.dataset as ds

from placelink.files import write_parquet_atomic
from placelink.link import incremental
from placelink.link.person_index import assign_person_ids, summarise_persons
from placelink.link.phases import timed
from placelink.link.predict import Diagnostics, link_encoded
from placelink.settings import Settings


@dataclass(frozen=True)
class LinkageResult:
    records: int
    persons: int
    multi_source_persons: int
    profiles: int
    pairs_scored: int
    pairs_matched: int
    trained: bool
    threshold: float
    key_fingerprint: str
    diagnostics: Diagnostics
    cluster_sizes: dict[int, int]  # persons by number of records
    linked_other_source: dict[str, float]  # per source, share of records whose person is in another
    record_links: Path
    person_index: Path
    model: Path
    mode: str = "full"  # "full" or "incremental" (placelink.link.incremental)
    mode_reason: str = ""  # why: "increment", or why a full link was needed
    new_records: int = 0  # records this run found not yet in record_links (incremental)
    phase_seconds: dict[str, float] = field(default_factory=dict)  # wall seconds by phase


def record_links_path(settings: Settings) -> Path:
    return settings.linkage / "record_links.parquet"


def person_index_path(settings: Settings) -> Path:
    return settings.linkage / "person_index.parquet"


def model_path(settings: Settings) -> Path:
    return settings.linkage / "model.json"


def run_linkage(
    settings: Settings,
    encoded_files: list[Path],
    run_id: str,
    retrain: bool = True,
    full_relink: bool = True,
) -> LinkageResult:
    """Link, keep the previous run's person_ids, and write record_links and person_index.

    With full_relink False, a run that finds the last link's state links only the records new
    since then (placelink.link.incremental), with the saved model; otherwise, or where an
    increment cannot stand in for a full link, everything is linked (and trained if `retrain`).
    """
    links_file, index_file = record_links_path(settings), person_index_path(settings)
    model = model_path(settings)
    # Increments run Splink on DuckDB against the saved model: on Spark, every run links in full.
    full_relink = full_relink or settings.link_backend != "duckdb"
    phases: dict[str, float] = {}
    with timed(phases, "plan"):
        plan = incremental.plan_linkage(
            settings, encoded_files, model, links_file, index_file, full_relink
        )
    part = incremental.state_dir(settings) / f".{run_id}.profiles.staged"
    increment = None
    if plan.incremental:
        try:
            increment = incremental.link_increment(
                settings, plan, model,
                settings.link_memory_limit, settings.linkage / "spill", part, run_id, phases,
            )  # fmt: skip
        except incremental.IncrementRefused as refused:
            plan = incremental.Plan(False, str(refused))
    if increment is not None:  # the increment assigned person ids itself, as below would
        clustering, links, index = increment.clustering, increment.links, increment.index
    else:
        spill = settings.linkage / "spill"
        clustering = link_encoded(
            encoded_files,
            model,
            retrain=retrain,
            memory_limit=settings.link_memory_limit,
            spill_to=spill,
            backend=settings.link_backend,
            spark_master=settings.spark_master,
            profiles_out=part,
            phases=phases,
            max_rule_pairs=settings.link_max_rule_pairs,
        )
        with timed(phases, "assign person ids"):
            # The last link's files are scanned by DuckDB within its memory limit, not held
            # whole beside it (4.6 million record pseudonyms at 1M people: 0.4 GB).
            previous = (
                (ds.dataset(links_file), ds.dataset(index_file))
                if links_file.exists() and index_file.exists()
                else (None, None)
            )
            links, index = assign_person_ids(
                clustering.records, run_id, *previous, settings.link_memory_limit, spill
            )
            del previous
    # record_links is written (Parquet encodes without the GIL) while the persons are counted.
    with ThreadPoolExecutor(max_workers=1) as pool:
        written = pool.submit(write_parquet_atomic, links, links_file, ("record_id",))
        with timed(phases, "summary"):
            summary = summarise_persons(links)
        with timed(phases, "write record_links"):
            written.result()
    with timed(phases, "write person_index"):
        write_parquet_atomic(index, index_file)
    with timed(phases, "save state"):
        incremental.save_state(
            settings, part, None if increment else clustering.records, links, model,
            clustering.threshold,
            clustering.diagnostics.fields, clustering.diagnostics.rules,
            clustering.key_fingerprint, run_id,
            plan.state if plan.incremental else None,
        )  # fmt: skip
    return LinkageResult(
        records=links.num_rows,
        persons=summary.persons,
        multi_source_persons=summary.multi_source_persons,
        profiles=clustering.profiles,
        pairs_scored=clustering.pairs_scored,
        pairs_matched=clustering.pairs_matched,
        trained=clustering.trained,
        threshold=clustering.threshold,
        key_fingerprint=clustering.key_fingerprint,
        diagnostics=clustering.diagnostics,
        cluster_sizes=summary.cluster_sizes,
        linked_other_source=summary.linked_other_source,
        record_links=links_file,
        person_index=index_file,
        model=model,
        mode="incremental" if plan.incremental else "full",
        mode_reason=plan.reason,
        new_records=plan.new_records if plan.incremental else links.num_rows,
        phase_seconds=phases,
    )
