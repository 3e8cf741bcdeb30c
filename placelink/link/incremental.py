"""Monthly increments: link a new month's records against the person index, not everything again.

A full link scores every profile (distinct encoded identity) against every other and clusters
them by connected components at a threshold. Between full links, the linkage zone keeps that
result as state (`linkage/profiles/`): every profile's encodings with the person it belongs to,
the model's fingerprint and the threshold. A monthly run then

1. finds the new records: those in linkage/encoded/ that linkage/record_links.parquet does not
   hold (only their row groups are read);
2. gives each new record whose identity is already a profile that profile's person;
3. scores the remaining new profiles with the saved model against the known profiles (Splink's
   `predict_between`) and among themselves (`predict_within`), over the blocking rules as the
   last full link bounded them (LinkState.rules); only the known profiles some rule can pair
   with a new one are read for it (read_candidates);
4. clusters by connected components over the known persons (each one node: a person is never
   split) and the new profiles, joined by the new pairs at or above the saved threshold. A new
   profile that matches a person joins it; one that matches two persons merges them, as a full
   link would; the rest become new persons.

With the same model and threshold this gives the components a full link would: the pairs among
known profiles, which it leaves unscored, are the ones the last link already clustered. The
person index (person_index.assign_person_ids) then keeps every id and never reuses one.

A full re-link (`placelink run --full-relink`) re-trains, re-scores everything and rebuilds the
state; it is forced when an increment cannot stand in for one: no state yet, another key or
model, a record gone from the encodings, or an identity field the model does not compare.
The state holds record pseudonyms' profiles as encodings only: no plaintext, no key.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from splink import DuckDBAPI, Linker

from placelink.encode import (
    ENCODINGS_SCHEMA,
    IDENTITY_KEY,
    IDENTITY_KEY_SQL,
)
from placelink.files import write_text_atomic
from placelink.link.connection import link_connection
from placelink.link.model import (
    DOB_BLOCK,
    FIELD_COLUMNS,
    PROFILE_COLUMNS,
    SPLINK_COLUMNS,
    UNIQUE_ID,
)
from placelink.link.phases import timed
from placelink.link.predict import (
    PREDICT_THRESHOLD,
    WEIGHT_BIN,
    Clustering,
    Diagnostics,
    identity_key_of,
    key_of_files,
    profile_encodings,
    token_number,
    with_rules,
    write_profiles,
)
from placelink.settings import Settings

# 2: tokens stored as numbers (predict.token_number); 3: the bounded rules, and Bloom filters
# stored as Splink reads them (words and bit count); 4: tokens are keyed BLAKE2b, so every
# token an earlier state holds differs from this version's (placelink.encode); 5: tokens are
# SipHash-2-4, so again every earlier token differs
STATE_VERSION = 5


@dataclass(frozen=True)
class LinkState:
    """What the last link left for the next increment (linkage/profiles/state.json)."""

    key_fingerprint: str
    model_sha256: str
    threshold: float
    fields: tuple[str, ...]
    rules: tuple[str, ...]  # the blocking rules the full link predicted with (bounded)
    records: int  # rows of record_links.parquet the state describes
    parts: tuple[str, ...]  # Parquet files of profiles, the full link's then each increment's
    full_run: str  # the run of the last full link
    increments: int  # increments since


@dataclass(frozen=True)
class Plan:
    """Whether this run links incrementally, and why (or why not)."""

    incremental: bool
    reason: str
    state: LinkState | None = None
    new_rows: dict[Path, np.ndarray] | None = None  # per encoded file, rows of new identities
    new_records: int = 0
    known_new: pa.Table | None = None  # new records of known identities: source, record_id, key
    links: pa.Table | None = None  # the last link's record_links, read once for the increment
    index: pa.Table | None = None  # and its person_index


def state_dir(settings: Settings) -> Path:
    return settings.linkage / "profiles"


def model_sha256(model: Path) -> str:
    return hashlib.sha256(model.read_bytes()).hexdigest()


def read_state(settings: Settings) -> LinkState | None:
    path = state_dir(settings) / "state.json"
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    if raw.pop("version", None) != STATE_VERSION:
        return None
    tuples = {name: tuple(raw[name]) for name in ("fields", "rules", "parts")}
    return LinkState(**{**raw, **tuples})


def plan_linkage(
    settings: Settings,
    encoded_files: list[Path],
    model: Path,
    links_file: Path,
    index_file: Path,
    full_relink: bool,
) -> Plan:
    """Link incrementally where the last link's state fits these encodings; else say why not."""
    if full_relink:
        return Plan(False, "full re-link asked for")
    state = read_state(settings)
    if state is None and (state_dir(settings) / "state.json").exists():
        return Plan(False, "the last link's state was written by another placelink version")
    if state is None or not (model.exists() and links_file.exists() and index_file.exists()):
        return Plan(False, "no previous link to add to")
    if pq.ParquetFile(links_file).metadata.num_rows != state.records:
        return Plan(False, "record_links.parquet does not match the last link's state")
    if state.key_fingerprint != key_of_files(encoded_files):
        return Plan(False, "the encodings were made under another key than the last link's")
    if state.model_sha256 != model_sha256(model):
        return Plan(False, "the model changed since the last link")
    missing = [p for p in state.parts if not (state_dir(settings) / p).exists()]
    if missing:
        return Plan(False, f"state file(s) missing: {', '.join(missing)}")
    # A new placelink may encode more than the one that made the state: its profiles would lack
    # the new encodings, and every known person would be compared without them.
    lacking = set(SPLINK_COLUMNS) - set(pq.read_schema(state_dir(settings) / state.parts[0]).names)
    if lacking:
        return Plan(False, f"the encodings changed since the last link: {sorted(lacking)} are new")
    con = duckdb.connect()  # keeping the file's order of records (preserve_insertion_order)
    links = con.sql(
        f"select source, record_id, person_id, first_seen_run from '{links_file}'"
    ).to_arrow_table()
    index = pq.read_table(index_file)
    # Every person of record_links is one the person index gave (a run stopped between writing
    # the two would leave them apart): the increment maps each by its id.
    given = pc.max(index["person_id"]).as_py() or 0
    if links["person_id"].null_count or (pc.max(links["person_id"]).as_py() or 0) > given:
        con.close()
        return Plan(False, "record_links.parquet and person_index.parquet disagree")
    con.register("previous_links", links.select(["source", "record_id"]))
    files = ", ".join(f"'{p}'" for p in encoded_files)
    parts = _parquet_list([state_dir(settings) / p for p in state.parts])
    # One join both ways: records only the encodings hold are new, records only
    # record_links holds are gone. A new record of an identity the state knows (the same
    # person next month) needs no encodings: its identity key places it.
    unmatched = con.sql(
        f"""
        with arrived as (
            select c.filename, c.file_row_number, c.source, c.record_id,
                   {identity_key_of(encoded_files)} as identity_key, p.record_id is null as new
            from read_parquet([{files}], filename = true, file_row_number = true) c
            full join previous_links p
              on c.source = p.source and c.record_id = p.record_id
            where c.record_id is null or p.record_id is null
        )
        select a.*, a.identity_key in (select identity_key from read_parquet({parts})) as known
        from arrived a
        """
    ).to_arrow_table()
    con.close()
    gone = unmatched.num_rows - pc.sum(unmatched["new"]).as_py() if unmatched.num_rows else 0
    if gone:
        return Plan(False, f"{gone:,} linked records are gone from the encodings", state)
    known = pc.fill_null(unmatched["known"], False)
    unknown = unmatched.filter(pc.invert(known))
    names = unknown["filename"].to_numpy(zero_copy_only=False)
    positions = unknown["file_row_number"].to_numpy()
    rows = {Path(n): np.sort(positions[names == n]) for n in np.unique(names)}
    known_new = unmatched.filter(known).select(["source", "record_id", "identity_key"])
    return Plan(True, "increment", state, rows, unmatched.num_rows, known_new, links, index)


def read_rows(path: Path, rows: np.ndarray) -> pa.Table:
    """The given rows of a Parquet file (their identity key where it has one, and encodings),
    reading only the row groups that hold them."""
    parquet = pq.ParquetFile(path)
    sizes = [parquet.metadata.row_group(i).num_rows for i in range(parquet.num_row_groups)]
    starts = np.concatenate([[0], np.cumsum(sizes)])
    groups = np.unique(np.searchsorted(starts, rows, side="right") - 1)
    keys = [IDENTITY_KEY] if IDENTITY_KEY in parquet.schema_arrow.names else []
    table = parquet.read_row_groups(
        groups.tolist(), columns=["source", "record_id", *keys, *PROFILE_COLUMNS]
    )
    offsets = np.concatenate([[0], np.cumsum([sizes[g] for g in groups])])
    local = np.concatenate(
        [
            rows[(rows >= starts[g]) & (rows < starts[g + 1])] - starts[g] + offsets[i]
            for i, g in enumerate(groups)
        ]
    )
    return table.take(pa.array(local, pa.int64()))


def _mirrored(rules: list[str]) -> list[str]:
    """The rules, each also with its sides swapped where that differs (l.a = r.b as l.b = r.a).

    A full link pairs two profiles by a one-sided rule only in the order of their ids; between
    new and known profiles, either may be on either side.
    """
    out: list[str] = []
    for rule in rules:
        swapped = re.sub(r"\b([lr])\.", lambda m: {"l": "r.", "r": "l."}[m.group(1)], rule)
        swapped = " AND ".join(
            " = ".join(reversed(part.split(" = "))) for part in swapped.split(" AND ")
        )
        out += [rule] if swapped == rule or swapped in rules else [rule, swapped]
    return list(dict.fromkeys(out))


def _current_person(index: pd.DataFrame) -> pd.Series:
    """Each person_id ever given, mapped to the live person it is now (following merged_into)."""
    merged = (
        index.dropna(subset=["merged_into"]).set_index("person_id")["merged_into"].astype("int64")
    )
    current = pd.Series(index["person_id"].to_numpy(), index=index["person_id"].to_numpy())
    for _ in range(64):
        step = current.map(merged).fillna(current).astype("int64")
        if step.equals(current):
            break
        current = step
    return current


def link_increment(
    settings: Settings,
    plan: Plan,
    model: Path,
    memory_limit: str,
    spill_to: Path | None,
    new_part: Path,
    run_id: str,
    phases: dict[str, float] | None = None,
) -> Increment:
    """Cluster every record: the known ones as the last link left them, the new ones scored.

    Returns the increment's record_links and person_index (assign_increment) with the
    clustering's figures. New profiles go to `new_part` with their person, for save_state.
    Each phase's wall seconds are added to `phases`.
    """
    state = plan.state
    assert state is not None and plan.new_rows is not None
    assert plan.links is not None and plan.index is not None
    con = link_connection(memory_limit, spill_to)
    # Its tables are small but for the candidates: by default DuckDB compresses every table
    # each time 16 MiB more are written, which cost 0.8 s for one 32,000-row table at 1M.
    con.execute("SET checkpoint_threshold = '1TB'")
    with timed(phases, "read new records"):
        _read_new_records(con, plan)
    parts = [state_dir(settings) / p for p in state.parts]
    with timed(phases, "known identities"):
        first_new, n_known = _known_identities(con, parts, plan.index)
    with timed(phases, "new profiles"):
        n_new = _new_profiles(con, state, first_new)
    # The full link's rules, as it bounded them: the same pairs are candidates.
    rules = list(state.rules)
    between_rules = _mirrored(rules)
    threshold = state.threshold
    edges = np.empty((0, 2), np.int64)
    pairs_scored, per_rule, histogram = 0, {}, {}
    if n_new:
        with timed(phases, "read candidate profiles"):
            read_candidates(con, parts, between_rules)
        db_api = DuckDBAPI(con)
        new_sdf, known_sdf = db_api.register("new_profiles"), db_api.register("known")
        # The model and its rules were checked against profiles of these columns by the full
        # link that made them; Splink's check parses every SQL fragment again (0.3 s).
        splink_settings = with_rules(json.loads(model.read_text()), rules)
        linker = Linker(
            new_sdf, splink_settings, log_level=logging.WARNING, validate_settings=False
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            with timed(phases, "predict between"):
                between = linker.inference.predict_between(
                    new_sdf,
                    known_sdf,
                    blocking_rules_to_generate_predictions=between_rules,
                    threshold_match_probability=PREDICT_THRESHOLD,
                    warning_mode="never",
                )
            with timed(phases, "predict within"):
                within = linker.inference.predict_within(
                    new_sdf, threshold_match_probability=PREDICT_THRESHOLD, warning_mode="never"
                )
        with timed(phases, "pairs and edges"):
            pairs_scored, per_rule, histogram, edges = _edges(
                con, between.physical_name, within.physical_name, rules, between_rules, threshold
            )
    with timed(phases, "cluster"):
        _cluster(con, edges)
    with timed(phases, "assign person ids"):
        links, index = assign_increment(con, plan.links, plan.index, run_id)
    with timed(phases, "write profiles part"):
        write_profiles(
            con,
            f"new_profiles join (select {UNIQUE_ID}, coalesce(f.person_id, n.cluster_id) "
            f"as cluster_id from new_cluster n left join fresh f using (cluster_id)) "
            f"using ({UNIQUE_ID})",
            new_part,
        )
    con.close()
    diagnostics = Diagnostics(
        fields=state.fields,
        rules=state.rules,
        comparisons_per_rule={},
        pairs_per_rule=per_rule,
        match_weight_histogram=histogram,
        training_blocks=(),
        untrained=(),
    )
    clustering = Clustering(
        None,
        n_known + n_new,
        int(pairs_scored),
        int(len(edges)),
        False,
        threshold,
        state.key_fingerprint,
        diagnostics,
    )
    return Increment(clustering, links, index)


def _read_new_records(con: duckdb.DuckDBPyConnection, plan: Plan) -> None:
    """Table new_records: the plan's new records with their identity_key and encodings."""
    assert plan.new_rows is not None
    batches = [read_rows(path, rows) for path, rows in plan.new_rows.items()]
    if plan.known_new is not None and plan.known_new.num_rows:
        known, n = plan.known_new, plan.known_new.num_rows  # encodings: the known profiles'
        for field in ENCODINGS_SCHEMA:
            known = known.append_column(field, pa.nulls(n, field.type))
        batches.append(known)
    if not batches:  # none: an empty table of the encoded files' types
        ids = pa.schema([(c, pa.string()) for c in ("source", "record_id", IDENTITY_KEY)])
        batches.append(pa.unify_schemas([ids, ENCODINGS_SCHEMA]).empty_table())
    arriving = pa.concat_tables(batches, promote_options="permissive")
    columns = ", ".join(f'"{c}"' for c in PROFILE_COLUMNS)
    key = IDENTITY_KEY_SQL
    if IDENTITY_KEY in arriving.column_names:  # files of an older placelink lack it
        key = f"coalesce({IDENTITY_KEY}, {IDENTITY_KEY_SQL})"
    con.register("arriving", arriving)
    con.execute(
        f"create table new_records as select source, record_id, {key} as identity_key, "
        f"{columns} from arriving"
    )
    con.unregister("arriving")


def _known_identities(
    con: duckdb.DuckDBPyConnection, parts: list[Path], index: pa.Table
) -> tuple[int, int]:
    """Tables person_of (each person_id ever stored → its live person) and known_keys (the
    known profiles whose identity a new record carries, with their person); returns the first
    free profile_id and the count of known profiles. Only two columns of the state are read."""
    current = _current_person(index.select(["person_id", "merged_into"]).to_pandas())
    con.register("current_person", current.rename_axis("stored").reset_index(name="person_id"))
    con.execute("create table person_of as select stored, person_id from current_person")
    con.unregister("current_person")
    files = _parquet_list(parts)
    con.execute(
        f"""
        create table known_keys as
        select k.identity_key, c.person_id
        from read_parquet({files}) k join person_of c on c.stored = k.person_id
        where k.identity_key in (select identity_key from new_records)
        """
    )
    last, count = con.sql(
        f"select coalesce(max({UNIQUE_ID}), 0), count(*) from read_parquet({files})"
    ).fetchall()[0]
    return int(last) + 1, int(count)


def _parquet_list(parts: list[Path]) -> str:
    return "[" + ", ".join(f"'{p}'" for p in parts) + "]"


_EQUALITY = re.compile(r"^\s*([lr])\.\"?(\w+)\"?\s*=\s*([lr])\.\"?(\w+)\"?\s*$")


def _rule_keys(rule: str) -> list[tuple[str, str]] | None:
    """A blocking rule as (new profile's column, known profile's column) pairs that must be
    equal, `l` being the new side (predict_between's left); None where it is not a
    conjunction of such equalities over stored encodings."""
    keys = []
    for part in re.split(r"\s+AND\s+", rule.strip(), flags=re.IGNORECASE):
        match = _EQUALITY.match(part.strip("() "))
        if match is None or match[1] == match[3]:
            return None
        new, known = (match[2], match[4]) if match[1] == "l" else (match[4], match[2])
        if new not in PROFILE_COLUMNS or known not in PROFILE_COLUMNS:
            return None
        keys.append((new, known))
    return keys


def read_candidates(con: duckdb.DuckDBPyConnection, parts: list[Path], rules: list[str]) -> None:
    """Table known: the state's profiles (`parts`) that some rule could pair with a profile of
    new_profiles, as Splink reads them (Bloom words, live person from person_of).

    A profile no rule can pair with a new one adds no pair to predict_between, so leaving it
    out changes nothing scored; left in, it is read and Splink's blocking joins it, every
    month, for nothing. The filter reads the rules' key columns alone from the Parquet state
    first, in one scan: a profile is a candidate where some rule's keys equal a new profile's
    (a semi-join per rule, each scanning its columns again, took 40% longer at 1M).
    A rule that is not a conjunction of column equalities leaves every profile in.
    """
    files = _parquet_list(parts)
    keys = [_rule_keys(rule) for rule in rules]
    if any(k is None for k in keys):
        candidates = f"select {UNIQUE_ID} from read_parquet({files})"
    else:
        some_rule = " or ".join(
            "exists (select 1 from new_profiles n where "
            + " and ".join(f'n."{new}" = k."{known}"' for new, known in pairs)
            + ")"
            for pairs in keys
            if pairs
        )
        candidates = (
            f"select k.{UNIQUE_ID} from read_parquet({files}) k where {some_rule or 'false'}"
        )
    con.execute(f"create temp table candidate_ids as {candidates}")
    encodings = ", ".join(f'k."{c}"' for c in SPLINK_COLUMNS)
    con.execute(
        f"""
        create table known as
        select k.{UNIQUE_ID}, k.identity_key, c.person_id, {encodings}, k.dob_token as {DOB_BLOCK}
        from read_parquet({files}) k
        join person_of c on c.stored = k.person_id
        where k.{UNIQUE_ID} in (select {UNIQUE_ID} from candidate_ids)
        """
    )
    con.execute("drop table candidate_ids")


def _new_profiles(con: duckdb.DuckDBPyConnection, state: LinkState, first_new: int) -> int:
    """Table new_profiles: the new records' identities no known profile holds, numbered
    above every known profile_id; returns their count. Refuses fields the model lacks."""
    profile_columns = profile_encodings(lambda c: f'any_value("{c}")')
    con.execute(
        f"""
        create table new_profiles as
        select {first_new} - 1 + row_number() over (order by identity_key) as {UNIQUE_ID},
               identity_key, {profile_columns},
               {token_number("any_value(dob_token)", False)} as {DOB_BLOCK}
        from new_records
        where identity_key not in (select identity_key from known_keys)
        group by identity_key
        """
    )
    n_new = con.sql("select count(*) from new_profiles").fetchall()[0][0]
    filled = ", ".join(f"count({column}) > 0" for column in FIELD_COLUMNS.values())
    present = con.sql(f"select {filled} from new_profiles").fetchall()[0]
    extra = {f for f, has in zip(FIELD_COLUMNS, present, strict=True) if has} - set(state.fields)
    if extra:
        con.close()
        raise IncrementRefused(
            f"new records fill {sorted(extra)}, which the model does not compare"
        )
    return n_new


def _edges(
    con: duckdb.DuckDBPyConnection,
    between: str,
    within: str,
    rules: list[str],
    between_rules: list[str],
    threshold: float,
) -> tuple[int, dict[str, int], dict[float, int], np.ndarray]:
    """Pairs scored, pairs per rule, the match-weight histogram, and the edges at or above
    the threshold (a known profile's end as its negated person_id)."""
    scored = f"""
        select {UNIQUE_ID}_l as l, {UNIQUE_ID}_r as r, match_probability, match_weight,
               match_key, 'b' as kind from {between}
        union all
        select {UNIQUE_ID}_l, {UNIQUE_ID}_r, match_probability, match_weight, match_key, 'w'
        from {within}
    """
    con.execute(f"create table scored as {scored}")
    pairs_scored = con.sql("select count(*) from scored").fetchall()[0][0]
    per_rule: dict[str, int] = {}
    for kind, key, n in con.sql(
        "select kind, match_key, count(*) from scored group by all"
    ).fetchall():
        rule = (between_rules if kind == "b" else rules)[int(key)]
        per_rule[rule] = per_rule.get(rule, 0) + int(n)
    histogram = {
        float(low): int(n)
        for low, n in con.sql(
            f"select floor(match_weight / {WEIGHT_BIN}) * {WEIGHT_BIN} as low, count(*) "
            "from scored group by all order by low"
        ).fetchall()
    }
    # Known profiles stand for their person: an edge to one is an edge to the person.
    found = con.sql(
        f"""
        select s.l, case when s.kind = 'b' then -k.person_id else s.r end as r
        from scored s left join known k on s.kind = 'b' and k.{UNIQUE_ID} = s.r
        where s.match_probability >= {threshold}
        """
    ).fetchnumpy()
    edges = np.column_stack([found["l"], found["r"]]).astype(np.int64)
    return int(pairs_scored), per_rule, histogram, edges


def _cluster(con: duckdb.DuckDBPyConnection, edges: np.ndarray) -> None:
    """Tables new_clustered (each new record's cluster_id, see assign_increment), remap (the
    known persons merged into another) and new_cluster (each new profile's cluster)."""
    # Nodes: new profiles (positive ids) and the known persons they touch (negated person ids).
    profile_ids = con.sql(f"select {UNIQUE_ID} from new_profiles").fetchnumpy()[UNIQUE_ID]
    nodes, inverse = np.unique(
        np.concatenate([profile_ids.astype(np.int64), edges.ravel()]), return_inverse=True
    )
    pair_index = inverse[len(profile_ids) :].reshape(-1, 2)
    graph = coo_matrix(
        (np.ones(len(pair_index)), (pair_index[:, 0], pair_index[:, 1])), (len(nodes), len(nodes))
    )
    _, component = connected_components(graph, directed=False)
    # A component's cluster is the smallest person it holds, else a new (negative) cluster.
    persons = np.where(nodes < 0, -nodes, np.iinfo(np.int64).max)
    smallest = pd.Series(persons).groupby(component).min()
    cluster = np.where(
        smallest.to_numpy() < np.iinfo(np.int64).max, smallest.to_numpy(), -(smallest.index + 1)
    )[component]
    node_cluster = pd.DataFrame({"node": nodes, "cluster_id": cluster})
    con.register("node_cluster", node_cluster)
    con.execute(
        "create table remap as select -node as person_id, cluster_id from node_cluster "
        "where node < 0 and -node <> cluster_id"
    )
    con.execute(
        f"""
        create table new_cluster as
        select p.{UNIQUE_ID}, n.cluster_id
        from new_profiles p join node_cluster n on n.node = p.{UNIQUE_ID}
        """
    )
    con.unregister("node_cluster")
    con.execute(
        f"""
        create table new_clustered as
        select r.source, r.record_id,
               coalesce(c.cluster_id, m.cluster_id, k.person_id) as cluster_id
        from new_records r
        left join known_keys k using (identity_key)
        left join remap m on m.person_id = k.person_id
        left join new_profiles p on p.identity_key = r.identity_key
        left join new_cluster c on c.{UNIQUE_ID} = p.{UNIQUE_ID}
        """
    )


@dataclass(frozen=True)
class Increment:
    """An increment's clusters (cluster_id is the person_id) and the person index it makes."""

    clustering: Clustering
    links: pa.Table
    index: pa.Table


def assign_increment(
    con: duckdb.DuckDBPyConnection,
    previous_links: pa.Table,
    previous_index: pa.Table | pd.DataFrame,
    run_id: str,
) -> tuple[pa.Table, pa.Table]:
    """person_index.assign_person_ids for an increment, without its record merge.

    `new_clustered` holds each new record with a cluster_id: the smallest live person of the
    last link its cluster holds, else a negative number; `remap` the persons of the last link
    merged into another. No person is split, so a cluster holding persons keeps the smallest
    of them and the others are merged into it; a cluster holding none gets a new id, in order
    of its first "source:record_id", above every id ever given, as assign_person_ids would
    (tests/unit/test_incremental.py checks they agree). The last link's records keep their
    order, the new ones follow theirs sorted: the millions already linked are not joined or
    sorted again, only their person ids remapped and their persons' sizes counted.
    """
    con.register("previous_index", previous_index)
    start = con.sql("select coalesce(max(person_id), 0) + 1 from previous_index").fetchall()[0][0]
    con.execute(
        f"""
        create table fresh as
        select cluster_id,
               {start} - 1 + row_number() over (order by min(source || ':' || record_id))
                   as person_id
        from new_clustered where cluster_id < 0 group by cluster_id
        """
    )
    arriving = con.sql(
        """
        select n.source, n.record_id, coalesce(f.person_id, n.cluster_id)::bigint as person_id
        from new_clustered n left join fresh f using (cluster_id)
        order by n.source, n.record_id
        """
    ).to_arrow_table()
    merged = con.sql("select person_id, cluster_id from remap").fetchnumpy()
    live = np.arange(start, dtype=np.int64)  # each person id of the last link → its person now
    live[merged["person_id"]] = merged["cluster_id"]
    person = np.concatenate(
        [live[previous_links["person_id"].to_numpy()], arriving["person_id"].to_numpy()]
    )
    arriving = arriving.append_column(
        "first_seen_run", pa.array([run_id] * arriving.num_rows, pa.string())
    )

    def both(column: str) -> pa.ChunkedArray:
        tables = (previous_links, arriving)
        chunks = [c for t in tables for c in t[column].cast(pa.string()).chunks]
        return pa.chunked_array(chunks, pa.string())

    links = pa.table(
        {
            "source": both("source"),
            "record_id": both("record_id"),
            "person_id": person,
            "cluster_size": np.bincount(person)[person],
            "first_seen_run": both("first_seen_run"),
        }
    )
    index = con.sql(
        """
        with merged as (
            select distinct person_id, cluster_id as merged_into from remap where cluster_id >= 0
        ),
        persons as (
            select person_id::bigint as person_id, created_run::varchar as created_run,
                   merged_into::bigint as merged_into
            from previous_index
            union all
            select person_id, $run_id, null from fresh
        )
        select p.person_id, p.created_run, coalesce(m.merged_into, p.merged_into) as merged_into
        from persons p left join merged m using (person_id)
        order by p.person_id
        """,
        params={"run_id": run_id},
    ).to_arrow_table()
    return links, index


class IncrementRefused(Exception):
    """The new records cannot be linked incrementally (a full re-link must)."""


def save_state(
    settings: Settings,
    part: Path,
    clusters: pa.Table | None,
    links: pa.Table,
    model: Path,
    threshold: float,
    fields: tuple[str, ...],
    rules: tuple[str, ...],
    key_fingerprint: str,
    run_id: str,
    previous: LinkState | None,
) -> LinkState:
    """Store this run's profiles (in `part`, cluster_id → person_id) and the state; drop parts
    a full link replaced. Written after record_links, so a state that names a run's part
    describes that run's record_links (plan_linkage checks the count)."""
    folder = state_dir(settings)
    name = f"{run_id}.parquet"
    staged = folder / f".{name}.staged"
    con = link_connection(settings.link_memory_limit, settings.linkage / "spill")
    if clusters is None:  # an increment's part carries its persons already
        persons = (
            f"select * exclude (cluster_id), cluster_id as person_id from read_parquet('{part}')"
        )
    else:  # a full link's, its clusters: each cluster is one person of record_links
        con.register("clusters", clusters)
        con.register("links", links.select(["source", "record_id", "person_id"]))
        con.execute(
            "create temp table mapping as select distinct c.cluster_id, l.person_id "
            "from clusters c join links l using (source, record_id)"
        )
        persons = (
            f"select p.* exclude (cluster_id), m.person_id "
            f"from read_parquet('{part}') p join mapping m using (cluster_id)"
        )
    con.execute(f"copy ({persons}) to '{staged}' (format parquet, compression zstd)")
    con.close()
    part.unlink()
    if previous is not None and not pq.ParquetFile(staged).metadata.num_rows:
        staged.unlink()  # nothing new: the state's parts stand as they were
        parts = previous.parts
    else:
        os.replace(staged, folder / name)
        parts = (*previous.parts, name) if previous is not None else (name,)
    state = LinkState(
        key_fingerprint=key_fingerprint,
        model_sha256=model_sha256(model),
        threshold=threshold,
        fields=tuple(fields),
        rules=tuple(rules),
        records=links.num_rows,
        parts=parts,
        full_run=previous.full_run if previous is not None else run_id,
        increments=previous.increments + 1 if previous is not None else 0,
    )
    write_text_atomic(
        json.dumps({"version": STATE_VERSION, **state.__dict__}, indent=2), folder / "state.json"
    )
    for stale in folder.glob("*.parquet"):
        if stale.name not in parts:
            stale.unlink()
    return state
