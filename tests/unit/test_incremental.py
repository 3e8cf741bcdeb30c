"""The pieces of a monthly increment that need no town: rules, rows, merged persons."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from placelink.encode import OUTPUT_COLUMNS
from placelink.link.incremental import _current_person, _mirrored, read_rows


def test_a_one_sided_rule_is_also_tried_the_other_way_round():
    rules = [
        "l.nhs_token = r.nhs_token",
        "l.dob_token = r.dob_token AND l.given_phonetic_token = r.family_phonetic_token",
        "l.dob_swap_token = r.dob_token",
    ]
    assert _mirrored(rules) == [
        "l.nhs_token = r.nhs_token",
        "l.dob_token = r.dob_token AND l.given_phonetic_token = r.family_phonetic_token",
        "l.dob_token = r.dob_token AND l.family_phonetic_token = r.given_phonetic_token",
        "l.dob_swap_token = r.dob_token",
        "l.dob_token = r.dob_swap_token",
    ]


def test_read_rows_reads_the_rows_asked_for_across_row_groups(tmp_path):
    n = 1000
    table = pa.table(
        {
            "source": ["s"] * n,
            "record_id": [f"r{i}" for i in range(n)],
            **{c: [None] * n for c in OUTPUT_COLUMNS},
        }
    )
    path = tmp_path / "encoded.parquet"
    pq.write_table(table, path, row_group_size=128)
    rows = pd.Series([3, 127, 128, 640, 999]).to_numpy()
    assert read_rows(path, rows).column("record_id").to_pylist() == [f"r{i}" for i in rows]


def test_every_person_id_ever_given_maps_to_the_live_person_it_merged_into():
    index = pd.DataFrame(
        {
            "person_id": [1, 2, 3, 4, 5],
            "merged_into": pd.array([pd.NA, 1, 2, pd.NA, pd.NA], dtype="Int64"),
        }
    )
    assert _current_person(index).to_dict() == {1: 1, 2: 1, 3: 1, 4: 4, 5: 5}
