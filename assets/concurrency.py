"""The op tag that keeps single-writer steps one at a time in a multiprocess run.

A DuckDB warehouse file takes one process at a time (its lock refuses a second, even a reader),
so every step that opens it carries this tag, and pipelines/build.py limits the tag to one
running step. The per-source pull and pseudonymise steps write only their own source's files
and carry no tag: they run side by side.
"""

SINGLE_WRITER = "placelink/single_writer"
WAREHOUSE_WRITER = {SINGLE_WRITER: "warehouse"}
