"""A careful plaintext Splink 5 linkage of the standardised extracts: the baseline to beat.

    from benchmarks.plaintext_recipe import link_plaintext
    clusters = link_plaintext(Path("data/secure/standardised"))  # source, record_id, cluster_id

placelink links only keyed encodings; this recipe links the same standardised records with
Splink's comparison library on the plaintext, so placelink's pairwise F1 can be held to it. It
mirrors placelink.link.predict step for step, with plaintext where placelink has tokens:

- every source's records are unioned and deduplicated (dedupe_only), after reduction to the
  distinct identity profiles (nhs, ni, given, family, dob, sex, postcode), so a person's repeated
  events score once; each record inherits its profile's cluster;
- names: exact, given/family reversed (scored once, by the given name comparison; the family
  comparison treats a swap as no evidence, where a second swapped level would count the same
  two names twice: with both, the swapped-names blocking rule let common names such as
  STEPHEN JONES / JONES STEPHEN through on 24 bits of name weight), same canonical given name
  (placelink's nickname table), Jaro-Winkler >= 0.92, a shared family name part, same
  metaphone, Jaro-Winkler >= 0.8. No term-frequency adjustment: it doubled the false profile
  pairs at >= 0.9 (136 against 71), rare family names being shared by a household at one
  postcode (a parent and child of one name), which the model takes as independent evidence;
- date of birth: exact, day and month transposed, two of year/month/day, same year;
- postcode: full, sector, district. Damerau-Levenshtein <= 1 levels on the date's ISO text and
  on the full postcode were tried and dropped: EM gave them m = 0.08 and 0.09 (weights 6.3 and
  5.8 bits, above "two of three parts"), so same-named people born a digit apart, or living
  at neighbouring postcodes, were joined; without them pairwise precision rose from 0.9975 to
  0.9989 at 50,000 people, recall unchanged (0.9995);
- NHS number and sex exact; NI number exact or one character apart (it has no check digit);
- the same training budget as placelink: prior from deterministic rules (recall 0.7), u from
  2e6 random pairs, EM on two blocks of at most 5e6 pairs each (rules and blocks that pair
  nothing on the sources at hand left out, as placelink leaves them out); predict at 0.5 and
  cluster at the threshold placelink's rule chooses from the scores (expected_f1_threshold).
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import jellyfish
import pandas as pd
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator

from placelink.encode import canonical_given_name
from placelink.link.predict import expected_f1_threshold, pairs_anything
from placelink.sources import IDENTITY_FIELDS

UNIQUE_ID = "profile_id"
PREDICT_THRESHOLD = 0.5
U_MAX_PAIRS = 2e6
EM_MAX_PAIRS = 5e6
SEED = 42

IDENTITY = tuple(f for f in IDENTITY_FIELDS if f != "record_id")

BLOCKING_RULES = (
    "l.nhs_number = r.nhs_number",
    "l.ni_number = r.ni_number",
    "l.date_of_birth = r.date_of_birth AND l.family_metaphone = r.family_metaphone",
    "l.date_of_birth = r.date_of_birth AND l.given_canon = r.given_canon",
    "l.date_of_birth = r.date_of_birth AND l.postcode_sector = r.postcode_sector",
    "l.given_canon = r.given_canon AND l.family_name = r.family_name",
    "l.given_metaphone = r.given_metaphone AND l.family_metaphone = r.family_metaphone "
    "AND l.postcode_district = r.postcode_district",
    "l.dob_swapped = r.date_of_birth AND l.family_metaphone = r.family_metaphone",
    "l.postcode_full = r.postcode_full AND l.dob_year_month = r.dob_year_month",
    "l.postcode_full = r.postcode_full AND l.given_canon = r.given_canon",
    "l.given_name = r.family_name AND l.family_name = r.given_name",
)

# Rules that admit almost no false matches, for the prior (probability two records match).
DETERMINISTIC_RULES = (
    "l.nhs_number = r.nhs_number AND l.date_of_birth = r.date_of_birth",
    "l.ni_number = r.ni_number AND l.date_of_birth = r.date_of_birth",
    "l.given_name = r.given_name AND l.family_name = r.family_name "
    "AND l.date_of_birth = r.date_of_birth AND l.postcode_full = r.postcode_full",
)

# Where the sources fill none of the rules above (names and dates of birth alone): one whole name
# and the date (both names and the date would pair no two distinct identities).
NAME_AND_DOB_RULES = (
    "l.date_of_birth = r.date_of_birth AND l.family_name = r.family_name",
    "l.date_of_birth = r.date_of_birth AND l.given_name = r.given_name",
)

# EM sessions: each blocks on some comparisons and so trains the others; the first trains the
# names, and where it pairs nothing (no postcodes) the date of birth alone stands in for it.
TRAINING_BLOCKS = (
    "l.date_of_birth = r.date_of_birth AND l.postcode_district = r.postcode_district",
    "l.given_canon = r.given_canon AND l.family_name = r.family_name",
)
NAMES_FALLBACK_BLOCK = "l.date_of_birth = r.date_of_birth"


def _given_name() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="given_name",
        comparison_description="given name: exact, swapped, canonical, Jaro-Winkler, metaphone",
        comparison_levels=[
            cll.NullLevel("given_name"),
            cll.ExactMatchLevel("given_name"),
            cll.ColumnsReversedLevel("given_name", "family_name", symmetrical=True),
            cll.ExactMatchLevel("given_canon").configure(label_for_charts="same canonical name"),
            cll.JaroWinklerLevel("given_name", 0.92),
            cll.ExactMatchLevel("given_metaphone").configure(label_for_charts="same metaphone"),
            cll.JaroWinklerLevel("given_name", 0.8),
            cll.ElseLevel(),
        ],
    )


def _family_name() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="family_name",
        comparison_description="family name: exact, swapped, Jaro-Winkler, a part, metaphone",
        comparison_levels=[
            # A given/family swap is scored once, by the given name comparison: here it counts
            # as no evidence, where a second swapped level would count the same names twice.
            cll.Or(
                cll.NullLevel("family_name"),
                cll.ColumnsReversedLevel("given_name", "family_name", symmetrical=True),
            ).configure(is_null_level=True, label_for_charts="null, or swapped with given"),
            cll.ExactMatchLevel("family_name"),
            cll.JaroWinklerLevel("family_name", 0.92),
            cll.ArrayIntersectLevel("family_parts", min_intersection=1).configure(
                label_for_charts="a shared part"
            ),
            cll.ExactMatchLevel("family_metaphone").configure(label_for_charts="same metaphone"),
            cll.JaroWinklerLevel("family_name", 0.8),
            cll.ElseLevel(),
        ],
    )


def _date_of_birth() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="date_of_birth",
        comparison_description="date of birth: exact, transposed, two of three parts, year",
        comparison_levels=[
            cll.NullLevel("date_of_birth"),
            cll.ExactMatchLevel("date_of_birth"),
            cll.CustomLevel(
                "dob_swapped_l = date_of_birth_r OR date_of_birth_l = dob_swapped_r",
                label_for_charts="day and month transposed",
            ),
            cll.CustomLevel(
                "(dob_year_l = dob_year_r AND dob_month_l = dob_month_r) "
                "OR (dob_month_l = dob_month_r AND dob_day_l = dob_day_r) "
                "OR (dob_year_l = dob_year_r AND dob_day_l = dob_day_r)",
                label_for_charts="two of year, month and day",
            ),
            cll.ExactMatchLevel("dob_year").configure(label_for_charts="same year"),
            cll.ElseLevel(),
        ],
    )


def _postcode() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="postcode",
        comparison_description="postcode: full, sector, district",
        comparison_levels=[
            cll.NullLevel("postcode_district"),
            cll.ExactMatchLevel("postcode_full"),
            cll.ExactMatchLevel("postcode_sector"),
            cll.ExactMatchLevel("postcode_district"),
            cll.ElseLevel(),
        ],
    )


def _ni_number() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="ni_number",
        comparison_description="NI number: exact, one edit",
        comparison_levels=[
            cll.NullLevel("ni_number"),
            cll.ExactMatchLevel("ni_number"),
            cll.DamerauLevenshteinLevel("ni_number", 1),
            cll.ElseLevel(),
        ],
    )


def splink_settings() -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name=UNIQUE_ID,
        probability_two_random_records_match=1e-5,
        comparisons=[
            cl.ExactMatch("nhs_number"),
            _ni_number(),
            _given_name(),
            _family_name(),
            _date_of_birth(),
            _postcode(),
            cl.ExactMatch("sex"),
        ],
        blocking_rules_to_generate_predictions=list(BLOCKING_RULES),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def _metaphone(name: str | None) -> str | None:
    return (jellyfish.metaphone(name.replace(" ", "")) or None) if name else None


def _load(con: duckdb.DuckDBPyConnection, standardised_dir: Path) -> None:
    """Tables records (source, record_id, identity_key) and profiles (one row per identity)."""
    pattern = str(Path(standardised_dir) / "*" / "*.parquet")
    key = ", ".join(f"coalesce(cast({c} as varchar), '~')" for c in IDENTITY)
    con.execute(
        f"""
        create table records as
        select regexp_extract(filename, '([^/]+)/[^/]+$', 1) as source, record_id,
               md5(concat_ws('|', {key})) as identity_key, {", ".join(IDENTITY)}
        from read_parquet('{pattern}', union_by_name = true, filename = true)
        """
    )
    values = ", ".join(f"any_value({c}) as {c}" for c in IDENTITY)
    con.execute(
        f"""
        create table identities as
        select row_number() over (order by identity_key) as {UNIQUE_ID}, identity_key, {values},
               count(*) as records
        from records
        group by identity_key
        """
    )
    # Canonical given names and metaphones: computed once per distinct value, in Python.
    names = con.sql("select distinct given_name, sex from identities").df()
    names["given_canon"] = [
        canonical_given_name(g, s if s in ("M", "F") else None) if isinstance(g, str) else None
        for g, s in zip(names["given_name"], names["sex"], strict=True)
    ]
    phonetic = con.sql(
        "select given_name as name from identities union select family_name from identities"
    ).df()
    phonetic["metaphone"] = [_metaphone(n) for n in phonetic["name"]]
    con.register("canon_df", names)
    con.register("phonetic_df", phonetic)
    con.execute(
        f"""
        create table profiles as
        select
            i.{UNIQUE_ID},
            i.records,
            i.nhs_number,
            i.ni_number,
            i.given_name,
            i.family_name,
            i.date_of_birth,
            case when i.sex in ('M', 'F') then i.sex end as sex,
            c.given_canon,
            g.metaphone as given_metaphone,
            f.metaphone as family_metaphone,
            string_split(i.family_name, ' ') as family_parts,
            year(i.date_of_birth) as dob_year,
            month(i.date_of_birth) as dob_month,
            day(i.date_of_birth) as dob_day,
            strftime(i.date_of_birth, '%Y-%m') as dob_year_month,
            case when day(i.date_of_birth) <= 12 and day(i.date_of_birth) <> month(i.date_of_birth)
                 then make_date(year(i.date_of_birth), day(i.date_of_birth),
                                month(i.date_of_birth)) end as dob_swapped,
            case when i.postcode like '% %' then i.postcode end as postcode_full,
            case when i.postcode like '% %' then left(i.postcode, strpos(i.postcode, ' ') + 1)
                 end as postcode_sector,
            split_part(i.postcode, ' ', 1) as postcode_district
        from identities i
        left join canon_df c
          on c.given_name is not distinct from i.given_name and c.sex is not distinct from i.sex
        left join phonetic_df g on g.name = i.given_name
        left join phonetic_df f on f.name = i.family_name
        """
    )
    con.unregister("canon_df")
    con.unregister("phonetic_df")


def _train(linker: Linker, profiles) -> None:
    """As placelink trains, with rules and blocks that pair nothing on these sources left out."""
    prior = [r for r in DETERMINISTIC_RULES if pairs_anything(profiles, r)]
    blocks = [b for b in TRAINING_BLOCKS if pairs_anything(profiles, b)]
    if TRAINING_BLOCKS[0] not in blocks:
        blocks.insert(0, NAMES_FALLBACK_BLOCK)
    training = linker.training
    training.estimate_probability_two_random_records_match(
        prior or [r for r in NAME_AND_DOB_RULES if pairs_anything(profiles, r)], recall=0.7
    )
    training.estimate_u_using_random_sampling(max_pairs=U_MAX_PAIRS, seed=SEED)
    for rule in blocks:
        training.estimate_parameters_using_expectation_maximisation(
            rule, max_pairs=EM_MAX_PAIRS, record_sample_proportion=1.0
        )


def link_plaintext(standardised_dir: Path) -> pd.DataFrame:
    """Every standardised record's cluster: columns source, record_id, cluster_id."""
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    try:
        _load(con, standardised_dir)
        db_api = DuckDBAPI(con)
        profiles = db_api.register("profiles")
        linker = Linker(profiles, splink_settings(), log_level=logging.WARNING)
        _train(linker, profiles)
        predictions = linker.inference.predict(threshold_match_probability=PREDICT_THRESHOLD)
        clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions,
            threshold_match_probability=expected_f1_threshold(con, predictions.physical_name),
        )
        return con.sql(
            f"""
            select r.source, r.record_id, cast(c.cluster_id as varchar) as cluster_id
            from records r
            join identities i using (identity_key)
            join {clusters.physical_name} c on c.{UNIQUE_ID} = i.{UNIQUE_ID}
            """
        ).df()
    finally:
        con.close()
