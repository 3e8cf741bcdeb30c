"""A small HES-like extract (one CSV a month) that unit tests land and pull."""

from datetime import date

from placelink.settings import Settings
from placelink.sources import ConnectorSpec, SourceSpec

TODAY = date(2026, 11, 23)
HEADER = "epikey,nhs_number,forename,surname,dob,sex,postcode,admidate\n"
GOOD = [
    "E1,9434765919,Zoë,O'Brien-Smith,1950-03-04,2,PL1 4AB,2024-01-05",
    "E2,,Mr John,Smith,1960-12-31,1,pl14ab,2024-01-06",
]


def csv_spec(delimiter=",", **extra) -> SourceSpec:
    return SourceSpec(
        name="apc",
        service="health",
        connector=ConnectorSpec(kind="csv", path="landing/apc/{month}.csv", delimiter=delimiter),
        identity={
            "record_id": "epikey",
            "nhs_number": "nhs_number",
            "given_name": "forename",
            "family_name": "surname",
            "date_of_birth": "dob",
            "sex": "sex",
            "postcode": "postcode",
        },
        keep=("admidate",),
        event_start="admidate",
        dates={"dob": "%Y-%m-%d", "admidate": "%Y-%m-%d"},
        sex_map={"1": "M", "2": "F", "9": "U"},
        **extra,
    )


def land(settings: Settings, text: bytes | str, month="2024-01") -> None:
    path = settings.landing / "apc" / f"{month}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode() if isinstance(text, str) else text)
