"""The hand-made raw warehouse tables the SQL model tests load, defined once.

A town whose every measure has a known answer.

Places: N1 (locality L1, IMD decile 2), N2 (L2, decile 7), N3 (L2, decile 10, nobody in it).
Data period 2023-04 to 2026-03. People:
  1  70, N1: emergency admission 2024-05-01 -> home 05-10; social care request 05-13 (3 days);
     emergency readmission 05-25 (15 days) -> home 05-30; ST-Max 06-01 to 07-15 (2 days).
  2  82, N1: emergency fall admission 2024-09-01 (S720, W199) -> care home 09-20;
     permanent nursing care from 09-20.
  3  30, N2: A&E 2024-04-01; UC claim from 05-15; sanction 06-10; A&E with F329 06-20;
     homelessness approach (relief, mental health need) 07-01 to 08-15, no health contact after.
  4  45, N2: five A&E attendances in 2025/26.
  5  50, N2: needs in all four domains in 2025-10.
  6  90, N1: emergency admission 2025-01-10, died in hospital 01-20.
  7  75, N2: emergency admission 2025-06-01 -> home 06-10; first social care request 08-01.
  8  40, N2: UC claim-months in 2023-04 and 2026-03 (earnings, no needs): the period's ends.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from placelink.link.quality import linkage_quality
from placelink.warehouse import LoadResult, load_arrow

PLACES = {"N1": ("L1", 2), "N2": ("L2", 7), "N3": ("L2", 10)}
COMMON = (
    "person_id bigint, record_id varchar, extract_month varchar, age_at_event integer, "
    "sex varchar, postcode_district varchar, lsoa varchar, neighbourhood varchar, "
    "locality varchar, imd_decile integer"
)
DDL = {
    "raw_health_apc": "admidate date, epistart date, epiend date, disdate date, admimeth varchar, "
    "admisorc varchar, disdest varchar, dismeth varchar, diag_4_01 varchar, diag_4_02 varchar, "
    "diag_4_03 varchar, tretspef varchar",
    "raw_health_ecds": "arrival_date date, arrival_time varchar, arrival_mode varchar, "
    "attendance_category varchar, chief_complaint varchar, diagnosis varchar, "
    "diag_icd10 varchar, discharge_destination varchar, department_type varchar",
    "raw_social_care": "event_type varchar, event_start date, event_end date, "
    "request_route_of_access varchar, event_outcome varchar, service_type varchar, "
    "service_component varchar, primary_support_reason varchar",
    "raw_housing": "approach_date date, duty varchar, reason_loss_settled_home varchar, "
    "support_needs varchar, accommodation_at_approach varchar, outcome varchar, "
    "outcome_date date",
    "raw_benefits": "claim_id varchar, assessment_period_start date, household_type varchar, "
    "housing_element double, earnings double, lcw boolean, sanction_start date, "
    "sanction_reason varchar, sanction_days integer, award_amount double",
}
AGES = {1: 70, 2: 82, 3: 30, 4: 45, 5: 50, 6: 90, 7: 75, 8: 40}
HOME = {1: "N1", 2: "N1", 3: "N2", 4: "N2", 5: "N2", 6: "N1", 7: "N2", 8: "N2"}


def _d(s: str | None) -> date | None:
    return date.fromisoformat(s) if s else None


def _common(person: int, record_id: str, on: str) -> dict:
    place = HOME[person]
    locality, decile = PLACES[place]
    return {
        "person_id": person,
        "record_id": record_id,
        "extract_month": on[:7],
        "age_at_event": AGES[person],
        "sex": "F" if person % 2 else "M",
        "postcode_district": "AB1",
        "lsoa": f"{place}-1",
        "neighbourhood": place,
        "locality": locality,
        "imd_decile": decile,
    }


def apc(person, rid, admitted, discharged, *, admimeth="21", admisorc="19", disdest="19",
        dismeth="1", diags=("I10", None, None)):  # fmt: skip
    return {
        **_common(person, rid, admitted),
        "admidate": _d(admitted), "epistart": _d(admitted), "epiend": _d(discharged),
        "disdate": _d(discharged), "admimeth": admimeth, "admisorc": admisorc,
        "disdest": disdest, "dismeth": dismeth, "diag_4_01": diags[0], "diag_4_02": diags[1],
        "diag_4_03": diags[2], "tretspef": "300",
    }  # fmt: skip


def ecds(person, rid, arrived, icd10="R104"):
    return {
        **_common(person, rid, arrived),
        "arrival_date": _d(arrived), "arrival_time": "10:00", "arrival_mode": "1048031000000100",
        "attendance_category": "1", "chief_complaint": "21522001", "diagnosis": "21522001",
        "diag_icd10": icd10, "discharge_destination": "306689006", "department_type": "01",
    }  # fmt: skip


def care(person, rid, kind, start, end=None, service_type=None):
    return {
        **_common(person, rid, start),
        "event_type": kind, "event_start": _d(start), "event_end": _d(end),
        "request_route_of_access": "Community", "event_outcome": None,
        "service_type": service_type, "service_component": None,
        "primary_support_reason": "Physical Support: Personal Care Support",
    }  # fmt: skip


def approach(person, rid, on, duty, needs, outcome_on):
    return {
        **_common(person, rid, on),
        "approach_date": _d(on), "duty": duty, "reason_loss_settled_home": "Family or friends",
        "support_needs": needs, "accommodation_at_approach": "Living with family",
        "outcome": "Secured accommodation", "outcome_date": _d(outcome_on),
    }  # fmt: skip


def claim(person, rid, claim_id, on, *, housing=0.0, earnings=0.0, sanction=None):
    return {
        **_common(person, rid, on),
        "claim_id": claim_id, "assessment_period_start": _d(on), "household_type": "Single",
        "housing_element": housing, "earnings": earnings, "lcw": False,
        "sanction_start": _d(sanction),
        "sanction_reason": "Failure to attend" if sanction else None,
        "sanction_days": 28 if sanction else None, "award_amount": 400.0,
    }  # fmt: skip


RAW = {
    "raw_health_apc": [
        apc(1, "A1", "2024-05-01", "2024-05-10"),
        apc(1, "A2", "2024-05-25", "2024-05-30"),
        apc(2, "A3", "2024-09-01", "2024-09-20", disdest="54", diags=("S720", "W199", None)),
        apc(6, "A4", "2025-01-10", "2025-01-20", dismeth="4", disdest="79"),
        apc(7, "A5", "2025-06-01", "2025-06-10"),
    ],
    "raw_health_ecds": [
        ecds(3, "E1", "2024-04-01"),
        ecds(3, "E2", "2024-06-20", icd10="F329"),
        *[ecds(4, f"E4{m}", f"2025-{m:02d}-01") for m in range(5, 10)],
        ecds(5, "E5", "2025-10-01", icd10="F102"),
    ],
    "raw_social_care": [
        care(1, "S1", "Request", "2024-05-13", "2024-05-13"),
        care(1, "S2", "Service", "2024-06-01", "2024-07-15", "Short Term Support: ST-Max"),
        care(2, "S3", "Service", "2024-09-20", None, "Long Term Support: Nursing Care"),
        care(5, "S5", "Service", "2025-10-05", "2025-12-31", "Long Term Support: Community"),
        care(7, "S7", "Request", "2025-08-01", "2025-08-01"),
    ],
    "raw_housing": [
        approach(
            3, "H1", "2024-07-01", "relief", "History of mental health problems;Drugs", "2024-08-15"
        ),  # fmt: skip
        approach(5, "H5", "2025-10-10", "prevention", "Physical ill health", "2025-11-01"),
    ],
    "raw_benefits": [
        claim(3, "B1", "C3", "2024-05-15", housing=300.0),
        claim(3, "B2", "C3", "2024-06-15", housing=300.0, sanction="2024-06-10"),
        claim(3, "B3", "C3", "2024-07-15", housing=300.0, sanction="2024-06-10"),
        claim(5, "B5", "C5", "2025-10-15", housing=250.0),
        claim(8, "B8a", "C8", "2023-04-15", earnings=900.0),
        claim(8, "B8b", "C8", "2026-03-15", earnings=900.0),
    ],
}
BANDS = ["0-17", "18-34", "35-49", "50-64", "65-74", "75-84", "85+"]
# Per neighbourhood and year: 5,000 people, 4,000 of them 18+, 1,000 of them 65+.
BAND_POPULATION = [1000, 1000, 1000, 1000, 500, 300, 200]


# The column types of the DDL above, as Arrow types, so load_arrow creates the same tables.
ARROW_TYPES = {
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "double": pa.float64(),
    "boolean": pa.bool_(),
    "varchar": pa.string(),
    "date": pa.date32(),
}
RECORD_LINKS = "source varchar, record_id varchar, person_id bigint, cluster_size integer"
NEIGHBOURHOODS = "neighbourhood varchar, locality varchar, imd_decile integer"
POPULATION = (
    "neighbourhood varchar, locality varchar, imd_decile integer, year integer, "
    "age_band varchar, sex varchar, population integer"
)


def schema(ddl: str) -> pa.Schema:
    """`name type, ...` as an Arrow schema."""
    columns = [c.split() for c in ddl.split(",")]
    return pa.schema([(name, ARROW_TYPES[kind]) for name, kind in columns])


def _table(ddl: str, rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema(ddl))


def raw_tables() -> dict[str, pa.Table]:
    """Every raw_* table the models read, as the warehouse step would load it."""
    tables = {name: _table(f"{COMMON}, {DDL[name]}", rows) for name, rows in RAW.items()}
    links = [
        {"source": t.removeprefix("raw_"), "record_id": r["record_id"],
         "person_id": r["person_id"], "cluster_size": 1}
        for t, rows in RAW.items()
        for r in rows
    ]  # fmt: skip
    tables["raw_record_links"] = _table(RECORD_LINKS, links)
    tables["raw_neighbourhoods"] = _table(
        NEIGHBOURHOODS,
        [
            {"neighbourhood": n, "locality": loc, "imd_decile": dec}
            for n, (loc, dec) in PLACES.items()
        ],
    )
    tables["raw_population"] = _table(
        POPULATION,
        [
            {
                "neighbourhood": n,
                "locality": loc,
                "imd_decile": dec,
                "year": y,
                "age_band": b,
                "sex": s,
                "population": pop // 2,
            }
            for n, (loc, dec) in PLACES.items()
            for y in (2023, 2024, 2025)
            for b, pop in zip(BANDS, BAND_POPULATION, strict=True)
            for s in ("F", "M")
        ],  # fmt: skip
    )
    # As the link step makes it without synthetic truth: precision, recall and f1 are all null
    # (Arrow type null), the case a loader must still give a column.
    attributes = pd.DataFrame(
        [
            {
                "source": t.removeprefix("raw_"),
                "record_id": r["record_id"],
                "age_at_event": r["age_at_event"],
                "sex": r["sex"],
                "imd_decile": r["imd_decile"],
            }
            for t, rows in RAW.items()
            for r in rows
        ]  # fmt: skip
    )
    quality = linkage_quality(tables["raw_record_links"].to_pandas(), attributes)
    tables["raw_linkage_quality"] = pa.Table.from_pandas(quality, preserve_index=False)
    return tables


def load_raw(engine: sa.Engine) -> list[LoadResult]:
    """Load every raw table through the warehouse loader (DuckDB: Arrow; PostgreSQL: COPY)."""
    return [load_arrow(engine, name, table) for name, table in raw_tables().items()]
