"""Where Splink runs: DuckDB in the link step's own process, or Spark (PLACELINK_LINK_BACKEND).

The link step builds its profiles, measures the names' u and chooses its clustering threshold
in DuckDB whatever the backend: that is SQL over one table of distinct identities and numpy
over the scored pairs. Only Splink's work (training, counting comparisons, prediction and
clustering) moves. A backend hands the profiles to Splink and brings back the few columns the
step reads of Splink's outputs as a DuckDB table: on DuckDB that is the table itself, on Spark
an Arrow copy of the selected columns.

Spark runs in local mode by default (`local[2]`, PLACELINK_SPARK_MASTER), its driver given
PLACELINK_LINK_MEMORY like DuckDB, and needs the optional `spark` extra (pyspark) and a Java
runtime. Splink's similarity jar is not registered: the model compares tokens and Bloom
filters, never strings.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Protocol

import duckdb
from splink import DuckDBAPI
from splink.internals.splink_dataframe import SplinkDataFrame

from placelink.encode import LIST_COLUMNS
from placelink.errors import ConfigError
from placelink.link.model import (
    BLOOM_COLUMNS,
    DOB_BLOCK,
    PROFILE_COLUMNS,
    SPLINK_COLUMNS,
    UNIQUE_ID,
)

SPARK_LOCAL_PARTITIONS = 8  # shuffle partitions in local mode (Spark's 200 are for clusters)


class Backend(Protocol):
    name: str
    db_api: object

    def profiles(self, con: duckdb.DuckDBPyConnection) -> SplinkDataFrame:
        """The DuckDB table `profiles` as Splink's input table."""
        ...

    def local(
        self, con: duckdb.DuckDBPyConnection, table: SplinkDataFrame, columns: list[str]
    ) -> str:
        """The name of a DuckDB table (or view) in `con` holding `columns` of Splink's `table`."""
        ...

    def close(self) -> None: ...


class DuckDBBackend:
    """Splink on the link step's own DuckDB connection: nothing is copied."""

    name = "duckdb"

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self.db_api = DuckDBAPI(con)

    def profiles(self, con: duckdb.DuckDBPyConnection) -> SplinkDataFrame:
        return self.db_api.register("profiles")

    def local(
        self, con: duckdb.DuckDBPyConnection, table: SplinkDataFrame, columns: list[str]
    ) -> str:
        return table.physical_name

    def close(self) -> None:
        pass


class SparkBackend:
    """Splink's SparkAPI on a Spark session, local mode unless `master` says otherwise."""

    name = "spark"

    def __init__(self, memory_limit: str, work_dir: Path, master: str = "local[2]"):
        try:
            from pyspark.sql import SparkSession
            from splink import SparkAPI
        except ImportError as error:
            raise ConfigError(
                "PLACELINK_LINK_BACKEND=spark needs pyspark: pip install -e '.[spark]'"
            ) from error
        if master.startswith("local") and not (shutil.which("java") or os.environ.get("JAVA_HOME")):
            raise ConfigError(
                "PLACELINK_LINK_BACKEND=spark needs a Java runtime (java on PATH, or JAVA_HOME): "
                "bash tools/sysdeps.sh installs one"
            )
        work_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        builder = (
            SparkSession.builder.master(master)
            .appName("placelink-link")
            .config("spark.driver.memory", spark_memory(memory_limit))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            # No Hive metastore (Derby) to start: Splink's tables are temporary views.
            .config("spark.sql.catalogImplementation", "in-memory")
            .config("spark.local.dir", str(work_dir / "local"))
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        )
        if master.startswith("local"):
            builder = builder.config("spark.sql.shuffle.partitions", str(SPARK_LOCAL_PARTITIONS))
        self.spark = builder.getOrCreate()
        self.spark.sparkContext.setLogLevel("ERROR")
        # Splink breaks lineage by writing its intermediate tables as Parquet here.
        self.spark.sparkContext.setCheckpointDir(str(work_dir / "checkpoints"))
        self.db_api = SparkAPI(spark_session=self.spark, register_udfs_automatically=False)

    def profiles(self, con: duckdb.DuckDBPyConnection) -> SplinkDataFrame:
        tokens = {*PROFILE_COLUMNS, DOB_BLOCK} - set(BLOOM_COLUMNS)
        # Tokens go to Spark as text: with them as numbers (BIGINT, lists of BIGINT) Splink's
        # comparison count on Spark stopped, the JVM idle, at 50,000 people.
        columns = ", ".join(
            f'cast("{c}" as varchar[]) as "{c}"' if c in LIST_COLUMNS
            else f'cast("{c}" as varchar) as "{c}"' if c in tokens
            else f'"{c}"'
            for c in (UNIQUE_ID, *SPLINK_COLUMNS, DOB_BLOCK)
        )  # fmt: skip
        table = con.sql(f"select {columns} from profiles order by {UNIQUE_ID}").to_arrow_table()
        return self.db_api.register(table, table_name="profiles")

    def local(
        self, con: duckdb.DuckDBPyConnection, table: SplinkDataFrame, columns: list[str]
    ) -> str:
        selected = ", ".join(f"`{c}`" for c in columns)
        arrow = self.spark.sql(f"select {selected} from {table.physical_name}").toArrow()
        name = f"spark_{table.templated_name.strip('_')}"
        con.register("spark_arrow", arrow)
        con.execute(f"create or replace table {name} as select * from spark_arrow")
        con.unregister("spark_arrow")
        return name

    def close(self) -> None:
        self.spark.catalog.clearCache()
        self.spark.stop()


def spark_memory(memory_limit: str) -> str:
    """A DuckDB size (3GB, 512MB, 1.5GB) as a JVM size in whole megabytes or gigabytes."""
    number, unit = re.fullmatch(r"([\d.]+)([KMGT]B)", memory_limit).groups()
    mib = float(number) * {"KB": 1 / 1024, "MB": 1, "GB": 1024, "TB": 1024**2}[unit]
    return f"{round(mib / 1024)}g" if mib % 1024 == 0 else f"{max(round(mib), 1)}m"


def open_backend(
    name: str, con: duckdb.DuckDBPyConnection, memory_limit: str, work_dir: Path, master: str
) -> Backend:
    """The backend PLACELINK_LINK_BACKEND names."""
    if name == "duckdb":
        return DuckDBBackend(con)
    if name == "spark":
        return SparkBackend(memory_limit, work_dir, master)
    raise ConfigError(f"PLACELINK_LINK_BACKEND must be duckdb or spark, not {name!r}")
