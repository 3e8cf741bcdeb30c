"""Reference data is optional: a town without landing/_reference/ runs to the end."""

import shutil

import pandas as pd

from placelink.cli import main


def test_a_run_without_reference_data_warns_and_publishes_no_neighbourhood_rows(own_town, capsys):
    settings, _ = own_town
    shutil.rmtree(settings.reference)
    shutil.rmtree(settings.published)
    report = settings.reports / "quality" / "index.html"
    report.unlink()

    code = main(["run", "--home", str(settings.home)])

    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Traceback" not in out + err and err == ""
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert any("postcodes.csv not found" in w for w in warnings), out
    assert any("population.csv not found" in w for w in warnings), out
    html = report.read_text()
    assert "postcodes.csv not found" in html and "population.csv not found" in html
    content = pd.read_parquet(settings.content / "health_apc.parquet")
    assert content[["lsoa", "neighbourhood", "locality", "imd_decile"]].isna().all().all()
    assert content["postcode_district"].notna().any()  # from the postcode itself
    aggregate = settings.published / "aggregate"
    for name in ("neighbourhood_outcomes", "multiple_disadvantage", "service_overlap"):
        assert len(pd.read_parquet(aggregate / f"{name}.parquet")) == 0
    assert len(pd.read_parquet(settings.published / "person" / "person_spine.parquet")) > 0
