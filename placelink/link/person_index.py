"""The stable person index: a person_id, once given, keeps meaning the same person.

A re-run on the same inputs keeps every person_id; a new month's records join existing persons
or get new ids; when clusters merge, the oldest (smallest) id survives and the other is recorded
as merged into it; an id is never reused.

The work is DuckDB SQL over Arrow: a city's millions of record pseudonyms stay in columnar
memory (or spill), where Python string objects would take several times the room.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds

from placelink.link.connection import link_connection

Frame = pa.Table | pd.DataFrame | ds.Dataset  # anything DuckDB reads in place (a dataset: scanned)

LINKS_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("record_id", pa.string()),
        ("person_id", pa.int64()),
        ("first_seen_run", pa.string()),
    ]
)
INDEX_SCHEMA = pa.schema(
    [("person_id", pa.int64()), ("created_run", pa.string()), ("merged_into", pa.int64())]
)


def assign_person_ids(
    clusters: Frame,
    run_id: str,
    previous_links: Frame | None = None,
    previous_index: Frame | None = None,
    memory_limit: str = "1GB",
    spill_to: Path | None = None,
) -> tuple[pa.Table, pa.Table]:
    """Turn this run's clusters into person_ids, keeping those of the previous run.

    Args:
        clusters: source, record_id, cluster_id for every record of this run.
        run_id: this run's id, stamped on new persons and newly seen records.
        previous_links: the last record_links (source, record_id, person_id, first_seen_run).
        previous_index: the last person_index (person_id, created_run, merged_into).
        memory_limit, spill_to: DuckDB's memory for the work, and where it spills beyond.

    Returns:
        record_links (source, record_id, person_id, cluster_size, first_seen_run), sorted by
        source and record_id, and the person_index (person_id, created_run, merged_into).
    """
    con = link_connection(memory_limit, spill_to)
    try:
        con.register("clusters", clusters)
        first_run = previous_links is None or previous_index is None
        con.register("previous_links", LINKS_SCHEMA.empty_table() if first_run else previous_links)
        con.register("previous_index", INDEX_SCHEMA.empty_table() if first_run else previous_index)
        con.execute(
            """
            create temp table records as
            select c.source::varchar as source, c.record_id::varchar as record_id, c.cluster_id,
                   p.person_id as previous_id, p.first_seen_run::varchar as first_seen_run
            from clusters c
            left join previous_links p
              on p.source::varchar = c.source::varchar
             and p.record_id::varchar = c.record_id::varchar
            """
        )
        start = con.sql("select coalesce(max(person_id), 0) + 1 from previous_index").fetchall()[0][
            0
        ]
        con.execute(
            """
            create temp table heirs as
            with votes as (
                select previous_id, cluster_id, count(*) as records
                from records where previous_id is not null
                group by all
            )
            -- each previous person goes to the cluster holding most of its records
            select previous_id, cluster_id
            from votes
            qualify row_number() over (
                partition by previous_id order by records desc, cluster_id
            ) = 1
            """
        )
        con.execute(
            f"""
            create temp table person_of_cluster as
            with kept as (
                -- a cluster heir to previous persons keeps the oldest of their ids
                select cluster_id, min(previous_id) as person_id from heirs group by all
            ),
            new_clusters as (
                select cluster_id, min(source || ':' || record_id) as first_record
                from records anti join kept using (cluster_id)
                group by all
            ),
            fresh as (
                select cluster_id,
                       {start} - 1 + row_number() over (order by first_record) as person_id,
                       true as is_new
                from new_clusters
            )
            select cluster_id, person_id, false as is_new from kept
            union all
            select * from fresh
            """
        )
        links = con.sql(
            """
            with cluster_sizes as (
                select cluster_id, count(*) as cluster_size from records group by all
            )
            select r.source, r.record_id, pc.person_id::bigint as person_id,
                   s.cluster_size::bigint as cluster_size,
                   coalesce(r.first_seen_run, $run_id) as first_seen_run
            from records r
            join person_of_cluster pc using (cluster_id)
            join cluster_sizes s using (cluster_id)
            order by r.source, r.record_id
            """,
            params={"run_id": run_id},
        ).to_arrow_table()
        index = con.sql(
            """
            with merged as (
                -- a previous person whose cluster kept an older id is merged into it
                select h.previous_id as person_id, pc.person_id as merged_into
                from heirs h join person_of_cluster pc using (cluster_id)
                where h.previous_id <> pc.person_id
            ),
            persons as (
                select person_id::bigint as person_id, created_run::varchar as created_run,
                       merged_into::bigint as merged_into
                from previous_index
                union all
                select person_id, $run_id, null from person_of_cluster where is_new
            )
            select p.person_id, p.created_run,
                   coalesce(m.merged_into, p.merged_into) as merged_into
            from persons p left join merged m using (person_id)
            order by p.person_id
            """,
            params={"run_id": run_id},
        ).to_arrow_table()
    finally:
        con.close()
    return links, index


@dataclass(frozen=True)
class PersonSummary:
    persons: int
    multi_source_persons: int
    cluster_sizes: dict[int, int]  # persons by number of records
    linked_other_source: dict[str, float]  # per source, share of records whose person is in another


def summarise_persons(links: pa.Table) -> PersonSummary:
    """What the linkage metadata says of record_links: persons, how many span sources, their
    sizes, and per source the share of records linked to another source."""
    con = duckdb.connect()
    try:
        con.register("links", links)
        # One pass over the records: each person's records per source; the rest is small.
        con.execute(
            """
            create temp table person_sources as
            select person_id, source, count(*) as records from links group by all
            """
        )
        con.execute(
            """
            create temp table persons as
            select person_id, sum(records) as records, count(*) as sources
            from person_sources group by all
            """
        )
        persons, multi = con.sql(
            "select count(*), count(*) filter (where sources > 1) from persons"
        ).fetchall()[0]
        sizes = con.sql("select records, count(*) from persons group by all order by 1").fetchall()
        shares = con.sql(
            """
            select s.source, sum(s.records * (p.sources > 1)::int) / sum(s.records)
            from person_sources s join persons p using (person_id)
            group by all order by 1
            """
        ).fetchall()
    finally:
        con.close()
    return PersonSummary(
        persons=int(persons),
        multi_source_persons=int(multi),
        cluster_sizes={int(k): int(v) for k, v in sizes},
        linked_other_source={str(k): float(v) for k, v in shares},
    )


def sources_per_person(links: pd.DataFrame) -> pd.Series:
    """How many sources each person appears in, indexed by person_id."""
    return links.groupby("person_id")["source"].nunique()
