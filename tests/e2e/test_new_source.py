"""The documented example (docs/extracts.md): a sixth source of a new kind, added to a
generated town by one entry in its sources.yaml, with no code change.

A GP registration list, identity only (no event), a CSV per month, made from the town's own
people as its A&E department recorded them; its records join the town's truth so that
linkage_quality can score them.
"""

from __future__ import annotations

import pandas as pd
import pytest

from pipelines.run import run_pipeline

pytestmark = pytest.mark.e2e

REGISTERED = 300
ENTRY = """
  - name: gp_registration
    description: GP registrations (a practice's list), a CSV per month.
    connector: {kind: csv, path: "landing/gp_registration/{month}.csv"}
    dates: {dob: "%Y-%m-%d", registration_date: "%Y-%m-%d"}
    sex_map: {"1": M, "2": F, "9": U, "0": U}
    identity: {record_id: registration_id, nhs_number: nhs_number, given_name: forename,
               family_name: surname, date_of_birth: dob, sex: sex, postcode: postcode}
    keep: [registration_date, practice_code]
"""


def land_gp_registrations(settings) -> pd.DataFrame:
    """Write landing/gp_registration/<month>.csv for REGISTERED of the town's people, each
    as A&E first recorded them, and add the records to the truth; return them."""
    files = sorted((settings.landing / "health_ecds").glob("*.csv"))
    ecds = pd.concat([pd.read_csv(f, dtype=str) for f in files], ignore_index=True)
    truth = pd.read_csv(settings.truth_file, dtype=str)
    ecds_truth = truth[truth.source == "health_ecds"].set_index("record_id")
    ecds["true_person_id"] = ecds.attendance_id.map(ecds_truth.true_person_id)
    people = ecds.drop_duplicates("true_person_id").sample(REGISTERED, random_state=7)
    people = people.reset_index(drop=True)
    people["dob"] = pd.to_datetime(people.date_of_birth, format="%d/%m/%Y").dt.strftime("%Y-%m-%d")
    months = [f.stem for f in files]
    people["month"] = [months[i % len(months)] for i in range(len(people))]
    people["registration_id"] = [f"GP{i:06d}" for i in range(len(people))]
    people["registration_date"] = people["month"] + "-01"
    people["practice_code"] = "P8100" + (people.index % 3).astype(str)
    columns = ["registration_id", "nhs_number", "forename", "surname", "dob", "sex", "postcode",
               "registration_date", "practice_code"]  # fmt: skip
    folder = settings.landing / "gp_registration"
    folder.mkdir()
    for month in months:
        people.loc[people.month == month, columns].to_csv(folder / f"{month}.csv", index=False)
    gp_truth = (
        ecds_truth.loc[people.attendance_id]
        .reset_index(drop=True)
        .assign(source="gp_registration", record_id=people.registration_id)[truth.columns]
    )
    pd.concat([truth, gp_truth]).to_csv(settings.truth_file, index=False)
    return people


def test_a_gp_registration_list_added_by_one_yaml_entry_is_linked_and_scored(own_town):
    settings, _ = own_town
    registered = land_gp_registrations(settings)
    with settings.sources_file.open("a", encoding="utf-8") as sources:
        sources.write(ENTRY)

    summary = run_pipeline(settings)

    assert summary.success, summary.error or summary.failed_checks
    gp = next(s for s in summary.sources if s["source"] == "gp_registration")
    assert (gp["rows_in"], gp["valid"]) == (len(registered), REGISTERED)
    links = pd.read_parquet(settings.linkage / "record_links.parquet")
    sources_of = links.groupby("person_id")["source"].nunique()
    gp_links = links[links.source == "gp_registration"]
    assert len(gp_links) == REGISTERED
    # Every registered person came from the A&E extract: nearly all link to it.
    assert (sources_of[gp_links.person_id] > 1).mean() >= 0.95

    spine = pd.read_parquet(settings.published / "person" / "person_spine.parquet")
    registered_persons = spine[spine.sources_present.str.contains("gp_registration")]
    assert len(registered_persons) >= 0.95 * REGISTERED
    assert (registered_persons.n_sources >= 2).mean() >= 0.95

    quality = pd.read_parquet(settings.published / "aggregate" / "linkage_quality.parquet")
    whole = quality[(quality.source == "gp_registration") & (quality.subgroup == "all")]
    assert len(whole) == 1
    print(
        f"gp_registration: {len(gp_links)} records linked, {len(registered_persons)} persons in "
        f"person_spine, {(registered_persons.n_sources >= 2).mean():.3f} in two or more sources, "
        f"precision {whole.precision.iloc[0]:.4f} recall {whole.recall.iloc[0]:.4f}"
    )
    assert whole.precision.iloc[0] >= 0.95 and whole.recall.iloc[0] >= 0.95
    assert set(quality[quality.source == "gp_registration"].subgroup) >= {"all", "name_origin"}
