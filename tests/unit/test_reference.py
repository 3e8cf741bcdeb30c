"""Reference data (landing/_reference/) is optional: without it, null geography and warnings."""

import pyarrow as pa

from placelink.expectations import published_suite
from placelink.pseudonymise import load_postcode_lookup, postcode_geography
from placelink.reference import load_neighbourhoods, load_population, reference_warnings
from placelink.settings import Settings


def test_without_reference_files_each_missing_one_is_a_warning_naming_it(tmp_path):
    settings = Settings.from_env(environ={}, home=tmp_path)
    warnings = reference_warnings(settings)
    assert [w.split(" not found")[0] for w in warnings] == [
        str(settings.reference / "postcodes.csv"),
        str(settings.reference / "population.csv"),
    ]
    settings.reference.mkdir(parents=True)
    (settings.reference / "population.csv").write_text("neighbourhood\n")
    assert len(reference_warnings(settings)) == 1


def test_without_a_postcode_lookup_geography_is_null_but_the_district(tmp_path):
    settings = Settings.from_env(environ={}, home=tmp_path)
    lookup = load_postcode_lookup(settings)
    assert lookup.num_rows == 0
    geography = postcode_geography(pa.array(["PK1 2AB", "PK3", None]), lookup).to_pydict()
    assert geography["postcode_district"] == ["PK1", "PK3", None]
    assert geography["neighbourhood"] == geography["imd_decile"] == [None, None, None]


def test_without_population_the_neighbourhoods_come_from_the_lookup_or_are_empty(tmp_path):
    settings = Settings.from_env(environ={}, home=tmp_path)
    assert load_population(settings).empty and load_neighbourhoods(settings).empty
    columns = list(load_population(settings).columns)
    assert columns[:3] == ["neighbourhood", "locality", "imd_decile"]
    settings.reference.mkdir(parents=True)
    (settings.reference / "postcodes.csv").write_text(
        "postcode,postcode_district,lsoa,neighbourhood,locality,imd_decile\n"
        "PK1 2AB,PK1,E01990001,Docklands,Riverside,1\nPK1 2AD,PK1,E01990001,Docklands,Riverside,1\n"
    )
    assert load_neighbourhoods(settings).drop_duplicates().to_dict("records") == [
        {"neighbourhood": "Docklands", "locality": "Riverside", "imd_decile": 1}
    ]


def test_a_table_that_needs_missing_reference_may_be_empty_and_says_why(tmp_path):
    reference = tmp_path / "_reference"
    relaxed = published_suite("neighbourhood_outcomes", reference)
    assert relaxed.missing_reference == ("postcodes.csv", "population.csv")
    assert "needs them" in relaxed.warning
    types = {e["type"] for e in relaxed.suite["expectations"]}
    assert "expect_table_row_count_to_be_between" not in types
    reference.mkdir()
    for name in ("postcodes.csv", "population.csv"):
        (reference / name).write_text("x\n")
    strict = published_suite("neighbourhood_outcomes", reference)
    assert strict.warning is None
    types = {e["type"] for e in strict.suite["expectations"]}
    assert "expect_table_row_count_to_be_between" in types
    assert published_suite("person_spine", tmp_path / "nowhere").warning is None
