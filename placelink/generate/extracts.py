"""Turn simulated events into the landing extracts (docs/architecture.md), deterministically."""

from __future__ import annotations

import csv
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from placelink.generate import codes
from placelink.generate.identity import (
    DUPLICATE_RATE,
    Identity,
    information_day,
    make_identity,
)
from placelink.generate.people import AGE_BANDS, ORIGINS, Names, Population, age_band_index
from placelink.generate.place import LOCALITIES, Place
from placelink.generate.timeline import NEVER, Timeline, from_ymd

Table = dict[str, np.ndarray]


@dataclass
class Context:
    """Everything the extract writers share."""

    rng: np.random.Generator
    tl: Timeline
    place: Place
    pop: Population
    names: Names
    factor: float
    landing: Path


@dataclass
class Written:
    """One source's record ids and true persons, for the truth file."""

    source: str
    record_id: np.ndarray
    pid: np.ndarray
    files: int


def _order(rng, day: np.ndarray) -> np.ndarray:
    """Records numbered by date, ties in random order, as a system assigns ids."""
    return np.lexsort((rng.random(len(day)), day))


def _take(table: Table, idx: np.ndarray) -> Table:
    return {k: v[idx] for k, v in table.items()}


def _blank(values: np.ndarray) -> np.ndarray:
    out = values.astype(object)
    out[out == ""] = None
    return out


def _dob(ctx: Context, idn: Identity, style: str) -> np.ndarray:
    return ctx.tl.fmt(from_ymd(idn.year, idn.month, idn.day), style)


def _identity(ctx: Context, pid, day, source) -> Identity:
    info = information_day(ctx.rng, day, source, ctx.factor)
    return make_identity(ctx.rng, ctx.pop, ctx.names, ctx.place, pid, info, source, ctx.factor)


def _write_csv_months(
    ctx: Context, source: str, columns: dict[str, np.ndarray], month: np.ndarray
) -> int:
    folder = ctx.landing / source
    folder.mkdir(parents=True, exist_ok=True)
    names = list(columns)
    for mi, label in enumerate(ctx.tl.labels):
        sel = np.flatnonzero(month == mi)
        with open(folder / f"{label}.csv", "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(names)
            w.writerows(zip(*(columns[c][sel].tolist() for c in names), strict=True))
    return len(ctx.tl.labels)


def write_health_apc(ctx: Context, apc: Table) -> Written:
    apc = _take(apc, _order(ctx.rng, apc["day"]))
    m = len(apc["pid"])
    idn = _identity(ctx, apc["pid"], apc["day"], "health_apc")
    ids = np.array([str(300000000001 + i) for i in range(m)], dtype=object)
    sex = np.where(
        idn.sex == 0, "1", np.where(idn.sex == 1, "2", np.where(ctx.rng.random(m) < 0.7, "9", "0"))
    )
    day = ctx.tl.fmt(apc["day"], "%Y-%m-%d")
    dis = ctx.tl.fmt(apc["dis"], "%Y-%m-%d")
    columns = {
        "epikey": ids,
        "nhs_number": idn.nhs,
        "forename": idn.given,
        "surname": idn.family,
        "dob": _dob(ctx, idn, "%Y-%m-%d"),
        "sex": sex.astype(object),
        "postcode": idn.postcode,
        "admidate": day,
        "epistart": day,
        "epiend": dis,
        "disdate": dis,
        "admimeth": apc["admimeth"],
        "admisorc": apc["admisorc"],
        "disdest": apc["disdest"],
        "dismeth": apc["dismeth"],
        "diag_4_01": _blank(apc["diag1"]),
        "diag_4_02": _blank(apc["diag2"]),
        "diag_4_03": _blank(apc["diag3"]),
        "tretspef": apc["tretspef"],
    }
    files = _write_csv_months(ctx, "health_apc", columns, ctx.tl.month_of(apc["day"]))
    return Written("health_apc", ids, apc["pid"], files)


def write_health_ecds(ctx: Context, ecds: Table) -> Written:
    ecds = _take(ecds, np.lexsort((ctx.rng.random(len(ecds["day"])), ecds["minute"], ecds["day"])))
    m = len(ecds["pid"])
    idn = _identity(ctx, ecds["pid"], ecds["day"], "health_ecds")
    ids = np.array([f"ED{i + 1:09d}" for i in range(m)], dtype=object)
    sex = np.where(idn.sex == 0, "1", np.where(idn.sex == 1, "2", "9")).astype(object)
    minute = ecds["minute"]
    times = np.array(
        [
            f"{h:02d}:{mm:02d}"
            for h, mm in zip((minute // 60).tolist(), (minute % 60).tolist(), strict=True)
        ],
        dtype=object,
    )
    columns = {
        "attendance_id": ids,
        "nhs_number": idn.nhs,
        "forename": idn.given,
        "surname": idn.family,
        "date_of_birth": _dob(ctx, idn, "%d/%m/%Y"),
        "sex": sex,
        "postcode": idn.postcode,
        "arrival_date": ctx.tl.fmt(ecds["day"], "%d/%m/%Y"),
        "arrival_time": times,
        "arrival_mode": np.array(codes.ARRIVAL_MODES, dtype=object)[ecds["mode"]],
        "attendance_category": ecds["category"],
        "chief_complaint": ecds["complaint"],
        "diagnosis": ecds["snomed"],
        "diag_icd10": ecds["icd"],
        "discharge_destination": ecds["dest"],
        "department_type": ecds["dept"],
    }
    files = _write_csv_months(ctx, "health_ecds", columns, ctx.tl.month_of(ecds["day"]))
    return Written("health_ecds", ids, ecds["pid"], files)


def write_social_care(ctx: Context, ev: Table) -> Written:
    """One database: a people row per registration, events referring to it."""
    rng = ctx.rng
    ev = _take(ev, np.lexsort((rng.random(len(ev["day"])), ev["day"], ev["pid"])))
    pid = ev["pid"]
    m = len(pid)
    first = np.ones(m, dtype=bool)
    first[1:] = pid[1:] != pid[:-1]
    start_of = np.maximum.accumulate(np.where(first, np.arange(m), 0))
    rank = np.arange(m) - start_of
    count = np.bincount(np.cumsum(first) - 1)[np.cumsum(first) - 1]
    # some people registered a second time: their later events go to a new person_ref
    dup = (rng.random(m) < min(1.0, DUPLICATE_RATE * ctx.factor))[start_of] & (count >= 2)
    split = 1 + (rng.random(m)[start_of] * (count - 1)).astype(np.int64)
    second = dup & (rank >= split)
    ref_key = np.cumsum(first | (second & (rank == split))) - 1
    reg_first = np.ones(m, dtype=bool)
    reg_first[1:] = ref_key[1:] != ref_key[:-1]
    reg_pid, reg_day = pid[reg_first], ev["day"][reg_first]
    reg_order = _order(rng, reg_day)
    ref_no = np.empty(len(reg_pid), dtype=np.int64)
    ref_no[reg_order] = np.arange(len(reg_pid))
    refs = np.array([f"SC{i + 1:07d}" for i in range(len(reg_pid))], dtype=object)
    idn = _identity(ctx, reg_pid[reg_order], reg_day[reg_order], "social_care")
    gender = np.where(idn.sex == 0, "Male", np.where(idn.sex == 1, "Female", "Unknown"))
    nhs = idn.nhs.copy()
    spaced = np.flatnonzero((nhs != None) & (rng.random(len(nhs)) < 0.1 * ctx.factor))  # noqa: E711
    nhs[spaced] = [f"{s[:3]} {s[3:6]} {s[6:]}" for s in nhs[spaced].tolist()]
    people = list(
        zip(
            refs.tolist(),
            nhs.tolist(),
            idn.given.tolist(),
            idn.family.tolist(),
            _dob(ctx, idn, "%Y-%m-%d").tolist(),
            gender.tolist(),
            idn.postcode.tolist(),
            strict=True,
        )
    )

    order = _order(rng, ev["day"])
    ev_ref = refs[ref_no[ref_key]]
    month = ctx.tl.month_of(ev["day"])
    labels = np.array(ctx.tl.labels, dtype=object)
    events = list(
        zip(
            (np.arange(m) + 1).tolist(),
            ev_ref[order].tolist(),
            labels[month[order]].tolist(),
            ev["kind"][order].tolist(),
            ctx.tl.fmt(ev["day"][order], "%Y-%m-%d").tolist(),
            ctx.tl.fmt(ev["end"][order], "%Y-%m-%d").tolist(),
            ev["route"][order].tolist(),
            ev["outcome"][order].tolist(),
            ev["service"][order].tolist(),
            ev["component"][order].tolist(),
            ev["psr"][order].tolist(),
            strict=True,
        )
    )
    folder = ctx.landing / "social_care"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "case_management.sqlite"
    con = sqlite3.connect(path)
    try:
        con.executescript(
            """
            PRAGMA page_size = 4096;
            CREATE TABLE people (person_ref TEXT PRIMARY KEY, nhs_number TEXT, first_name TEXT,
                last_name TEXT, birth_date TEXT, gender TEXT, postcode TEXT);
            CREATE TABLE events (event_id INTEGER PRIMARY KEY, person_ref TEXT NOT NULL
                REFERENCES people (person_ref), extract_month TEXT NOT NULL, event_type TEXT,
                event_start TEXT, event_end TEXT, request_route_of_access TEXT,
                event_outcome TEXT, service_type TEXT, service_component TEXT,
                primary_support_reason TEXT);
            CREATE INDEX events_extract_month ON events (extract_month);
            """
        )
        con.executemany("INSERT INTO people VALUES (?, ?, ?, ?, ?, ?, ?)", people)
        con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", events)
        con.commit()
    finally:
        con.close()
    ids = np.array([str(i + 1) for i in range(m)], dtype=object)
    return Written("social_care", ids, pid[order], 1)


def write_housing(ctx: Context, h: Table) -> Written:
    rng = ctx.rng
    m = len(h["pid"])
    dup = np.flatnonzero(rng.random(m) < min(1.0, DUPLICATE_RATE * ctx.factor))
    copy = _take(h, dup)
    copy["day"] = np.minimum(copy["day"] + rng.integers(0, 15, len(dup)), ctx.tl.end - 1)
    copy["outcome_day"] = np.where(
        copy["outcome_day"] < copy["day"], copy["day"], copy["outcome_day"]
    )
    h = {k: np.concatenate([h[k], copy[k]]) for k in h}
    h = _take(h, _order(rng, h["day"]))
    m = len(h["pid"])
    idn = _identity(ctx, h["pid"], h["day"], "housing")
    ids = [f"HPK-{i + 1:06d}" for i in range(m)]
    duty = np.array(["prevention", "relief", "main"], dtype=object)[h["duty"]]
    reason = np.array([r for r, _ in codes.REASONS], dtype=object)[h["reason"]]
    acc = np.array(codes.ACCOMMODATION, dtype=object)[h["accommodation"]]
    outcome = np.full(m, None, dtype=object)
    for d, name in enumerate(("prevention", "relief", "main")):
        sel = (h["duty"] == d) & (h["outcome"] >= 0)
        labels = np.array([o for o, _ in codes.OUTCOMES[name]], dtype=object)
        outcome[sel] = labels[h["outcome"][sel]]
    approach = ctx.tl.fmt(h["day"], "%Y-%m-%d")
    outcome_day = ctx.tl.fmt(h["outcome_day"], "%Y-%m-%d")
    dob = _dob(ctx, idn, "%d-%m-%Y")
    sex = np.where(idn.sex == 0, "M", np.where(idn.sex == 1, "F", None))
    month = ctx.tl.month_of(h["day"])
    folder = ctx.landing / "housing"
    folder.mkdir(parents=True, exist_ok=True)
    lines: list[list[str]] = [[] for _ in ctx.tl.labels]
    for i in range(m):
        record = {
            "case_id": ids[i],
            "approach_date": approach[i],
            "duty": duty[i],
            "reason_loss_settled_home": reason[i],
            "support_needs": h["support_needs"][i],
            "accommodation_at_approach": acc[i],
            "outcome": outcome[i],
            "outcome_date": outcome_day[i],
            "applicant": {
                "forename": idn.given[i],
                "surname": idn.family[i],
                "dob": dob[i],
                "sex": sex[i],
                "ni_number": idn.ni[i],
                "nhs_number": idn.nhs[i],
                "last_settled_postcode": idn.postcode[i],
            },
        }
        lines[month[i]].append(json.dumps(record, ensure_ascii=False))
    for label, rows in zip(ctx.tl.labels, lines, strict=True):
        text = "".join(line + "\n" for line in rows)
        (folder / f"{label}.jsonl").write_text(text, encoding="utf-8")
    return Written("housing", np.array(ids, dtype=object), h["pid"], len(ctx.tl.labels))


BENEFITS_SCHEMA = pa.schema(
    [
        ("claim_month_id", pa.string()),
        ("claim_id", pa.string()),
        ("ni_number", pa.string()),
        ("first_name", pa.string()),
        ("last_name", pa.string()),
        ("date_of_birth", pa.date32()),
        ("sex", pa.string()),
        ("postcode", pa.string()),
        ("assessment_period_start", pa.date32()),
        ("household_type", pa.string()),
        ("housing_element", pa.float64()),
        ("earnings", pa.float64()),
        ("lcw", pa.bool_()),
        ("sanction_start", pa.date32()),
        ("sanction_reason", pa.string()),
        ("sanction_days", pa.int32()),
        ("award_amount", pa.float64()),
    ]
)


def write_benefits(ctx: Context, b: Table) -> Written:
    """Identity is recorded per claim (its months agree); the postcode follows moves."""
    rng = ctx.rng
    b = _take(b, np.lexsort((b["day"], b["claim"])))
    m = len(b["pid"])
    first = np.ones(m, dtype=bool)
    first[1:] = b["claim"][1:] != b["claim"][:-1]
    claim_row = np.cumsum(first) - 1
    c_pid = b["pid"][first]
    c_start = np.maximum(b["claim_start"][first], ctx.tl.start - 3650)
    idn = _identity(ctx, c_pid, c_start, "benefits")
    clean_start = ctx.place.pc[ctx.pop.postcode_at(c_pid, c_start)]
    kept_error = idn.postcode != clean_start
    info = information_day(rng, b["day"], "benefits", ctx.factor)
    current = ctx.place.pc[ctx.pop.postcode_at(b["pid"], info)]
    postcode = np.where(kept_error[claim_row], idn.postcode[claim_row], current)
    claim_ids = np.array([f"UC{10000001 + c}" for c in b["claim"].tolist()], dtype=object)
    month = ctx.tl.month_of(b["day"])
    yyyymm = np.array([label.replace("-", "") for label in ctx.tl.labels], dtype=object)
    cm_ids = claim_ids + "-" + yyyymm[month]
    dob = from_ymd(idn.year, idn.month, idn.day)[claim_row]
    sex = np.where(idn.sex == 0, "M", np.where(idn.sex == 1, "F", None))[claim_row]
    sanctioned = b["sanction_start"] != NEVER
    reasons = np.array([r for r, _ in codes.SANCTION_REASONS], dtype=object)
    reason = np.where(sanctioned, reasons[np.maximum(b["sanction_reason"], 0)], None)

    def date32(days: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
        mask = None if valid is None else ~valid
        return pa.array(days.astype(np.int32), type=pa.date32(), mask=mask)

    folder = ctx.landing / "benefits"
    folder.mkdir(parents=True, exist_ok=True)
    hh = np.array(codes.HOUSEHOLD_TYPES, dtype=object)[b["household_type"]]
    order_all = np.lexsort((rng.random(m), b["day"]))
    month_sorted = month[order_all]
    for mi, label in enumerate(ctx.tl.labels):
        s = order_all[month_sorted == mi]
        table = pa.Table.from_arrays(
            [
                pa.array(cm_ids[s].tolist(), pa.string()),
                pa.array(claim_ids[s].tolist(), pa.string()),
                pa.array(idn.ni[claim_row[s]].tolist(), pa.string()),
                pa.array(idn.given[claim_row[s]].tolist(), pa.string()),
                pa.array(idn.family[claim_row[s]].tolist(), pa.string()),
                date32(dob[s]),
                pa.array(sex[s].tolist(), pa.string()),
                pa.array(postcode[s].tolist(), pa.string()),
                date32(b["day"][s]),
                pa.array(hh[s].tolist(), pa.string()),
                pa.array(b["housing_element"][s], pa.float64()),
                pa.array(b["earnings"][s], pa.float64()),
                pa.array(b["lcw"][s], pa.bool_()),
                date32(np.where(sanctioned[s], b["sanction_start"][s], 0), sanctioned[s]),
                pa.array(reason[s].tolist(), pa.string()),
                pa.array(b["sanction_days"][s], pa.int32()),
                pa.array(b["award_amount"][s], pa.float64()),
            ],
            schema=BENEFITS_SCHEMA,
        )
        pq.write_table(table, folder / f"{label}.parquet", compression="zstd")
    return Written("benefits", cm_ids[order_all], b["pid"][order_all], len(ctx.tl.labels))


def write_truth(ctx: Context, written: list[Written]) -> None:
    pop, place = ctx.pop, ctx.place
    nbh = place.pc_nbh[pop.postcode_at(np.arange(pop.n), np.full(pop.n, ctx.tl.start))]
    band = np.array(AGE_BANDS, dtype=object)[age_band_index(pop.age0)]
    sex = np.where(pop.sex == 0, "M", "F").astype(object)
    quint = ((place.nbh_decile + 1) // 2)[nbh]
    origin = np.array(ORIGINS, dtype=object)[pop.origin]
    folder = ctx.landing / "_truth"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "truth.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            [
                "source",
                "record_id",
                "true_person_id",
                "age_band",
                "sex",
                "neighbourhood",
                "deprivation_quintile",
                "name_origin",
            ]
        )
        for part in written:
            p = part.pid
            w.writerows(
                zip(
                    [part.source] * len(p),
                    part.record_id.tolist(),
                    (p + 1).tolist(),
                    band[p].tolist(),
                    sex[p].tolist(),
                    place.nbh_name[nbh[p]].tolist(),
                    quint[p].tolist(),
                    origin[p].tolist(),
                    strict=True,
                )
            )


def write_reference(ctx: Context) -> None:
    """The postcode lookup and mid-year populations, from the simulated people themselves."""
    pop, place, tl = ctx.pop, ctx.place, ctx.tl
    folder = ctx.landing / "_reference"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "postcodes.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            ["postcode", "postcode_district", "lsoa", "neighbourhood", "locality", "imd_decile"]
        )
        for i in np.argsort(place.pc, kind="stable").tolist():
            nb = place.pc_nbh[i]
            w.writerow(
                [
                    place.pc[i],
                    place.pc_district[i],
                    place.pc_lsoa[i],
                    place.nbh_name[nb],
                    LOCALITIES[place.nbh_locality[nb]],
                    int(place.nbh_decile[nb]),
                ]
            )
    years = [
        y
        for y in range(2023, 2100)
        if tl.start <= int(np.datetime64(f"{y}-06-30", "D").astype(np.int64)) < tl.end
    ]
    everyone = np.arange(pop.n)
    n_nbh, n_band = len(place.nbh_name), len(AGE_BANDS)
    with open(folder / "population.csv", "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(
            ["neighbourhood", "locality", "imd_decile", "year", "age_band", "sex", "population"]
        )
        for y in years or [2023]:
            day = np.full(pop.n, int(np.datetime64(f"{y}-06-30", "D").astype(np.int64)))
            alive = pop.death_day > day
            nb = place.pc_nbh[pop.postcode_at(everyone, day)]
            band = age_band_index(pop.age_at(everyone, day))
            key = (nb * n_band + band) * 2 + pop.sex
            counts = np.bincount(key[alive], minlength=n_nbh * n_band * 2)
            for nbi in range(n_nbh):
                for bi in range(n_band):
                    for s, label in enumerate(("M", "F")):
                        w.writerow(
                            [
                                place.nbh_name[nbi],
                                LOCALITIES[place.nbh_locality[nbi]],
                                int(place.nbh_decile[nbi]),
                                y,
                                AGE_BANDS[bi],
                                label,
                                int(counts[(nbi * n_band + bi) * 2 + s]),
                            ]
                        )
