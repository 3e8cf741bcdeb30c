"""DuckDB connections for the link's work, each held to the link's memory setting."""

from __future__ import annotations

from pathlib import Path

import duckdb


def link_connection(memory_limit: str, spill_to: Path | None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection held to `memory_limit`, spilling to `spill_to` beyond it, so a large
    town slows down rather than exhausting the machine."""
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    if spill_to is not None:
        spill_to.mkdir(mode=0o700, parents=True, exist_ok=True)
        con.execute(f"SET temp_directory = '{spill_to}'")
    return con
