"""Reference data (landing/_reference/): optional. Without it a run goes on, with less.

- postcodes.csv (an ONS NSPL-like lookup): without it, lsoa, neighbourhood, locality and
  imd_decile are null on every record (postcode_district still comes from the postcode itself),
  so the neighbourhood measures have nothing to place records in.
- population.csv (ONS mid-year-estimate-like): without it, raw_population is empty, so no rate
  per head of population is computed.

`reference_warnings` says so in one line each, for the run summary, the assets' metadata and
the report.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from placelink.settings import Settings

POSTCODES, POPULATION = "postcodes.csv", "population.csv"
POPULATION_COLUMNS = {
    "neighbourhood": "string",
    "locality": "string",
    "imd_decile": "Int64",
    "year": "Int64",
    "age_band": "string",
    "sex": "string",
    "population": "Int64",
}


def postcodes_file(settings: Settings) -> Path:
    return settings.reference / POSTCODES


def population_file(settings: Settings) -> Path:
    return settings.reference / POPULATION


def reference_warnings(settings: Settings) -> list[str]:
    """One line per missing reference file and what the run leaves out without it."""
    warnings = []
    if not postcodes_file(settings).exists():
        warnings.append(
            f"{postcodes_file(settings)} not found: lsoa, neighbourhood, locality and imd_decile "
            "are null (postcode_district comes from the postcode), so the neighbourhood "
            "measures publish nothing"
        )
    if not population_file(settings).exists():
        warnings.append(
            f"{population_file(settings)} not found: no population, so no rate per head of "
            "population is published"
        )
    return warnings


def load_population(settings: Settings) -> pd.DataFrame:
    """The reference population, or an empty one with its columns when there is none."""
    path = population_file(settings)
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in POPULATION_COLUMNS.items()})
    return pd.read_csv(path)


def load_neighbourhoods(settings: Settings) -> pd.DataFrame:
    """Each neighbourhood with its locality and IMD decile, from the postcode lookup (when the
    population is missing); empty without either."""
    columns = ["neighbourhood", "locality", "imd_decile"]
    path = postcodes_file(settings)
    if not path.exists():
        return pd.DataFrame({c: pd.Series(dtype=POPULATION_COLUMNS[c]) for c in columns})
    return pd.read_csv(path, usecols=columns).dropna(subset=["neighbourhood"])
