"""The Splink model: comparisons over keyed encodings only, never over plaintext.

Each comparison is built from equality of keyed tokens (which keyed hashing preserves) and Dice
similarity of keyed Bloom filters (which approximates bigram similarity of the names), so the
model sees typos, nicknames, swapped names, transposed dates and stale postcodes without ever
holding a name, date or postcode.

Name encodings are salted with the date of birth (placelink.encode), so two records' names can
be compared only when their dates of birth agree: otherwise the name comparisons take their null
level (no evidence either way) and the date-of-birth comparison carries the name instead, through
the composites of the whole name with part of the date.
"""

from __future__ import annotations

from typing import Any

from placelink.encode import OUTPUT_COLUMNS

UNIQUE_ID = "profile_id"

# Columns that identify a profile: one row per distinct encoded identity.
PROFILE_COLUMNS = OUTPUT_COLUMNS

# Names salted with different dates of birth cannot be compared: no evidence either way.
DOB_DIFFERS = "dob_token_l IS DISTINCT FROM dob_token_r"
DOB_SWAPPED = "dob_token_l = dob_swap_token_r OR dob_swap_token_l = dob_token_r"
SAME_NAME_YEAR = "name_year_token_l = name_year_token_r"

# Levels of the date of birth that also say "the same whole name", and the share of pairs of
# different people whose dates of birth agree as the level says, names aside: measured over
# 2 million random pairs of persons in the demo town (2026-12-01), a population age pyramid.
# A level's u is that share times the u of the exact names it requires, as Fellegi-Sunter's
# independence has it: random sampling cannot see u this small, and what it sees is mostly
# one person twice.
TWO_OF_THREE_PARTS, SAME_YEAR = 0.0040, 0.0101


def _dice(column: str) -> str:
    left, right = f"{column}_l", f"{column}_r"
    return (
        f"(2.0 * bit_count({left} & {right}) / nullif(bit_count({left}) + bit_count({right}), 0))"
    )


def _level(sql: str, label: str, null: bool = False) -> dict[str, Any]:
    level: dict[str, Any] = {"sql_condition": sql, "label_for_charts": label}
    if null:
        level["is_null_level"] = True
    return level


def _exact(column: str, label: str) -> dict[str, Any]:
    return {
        "output_column_name": column,
        "comparison_description": label,
        "comparison_levels": [
            _level(f'"{column}_l" IS NULL OR "{column}_r" IS NULL', "null", null=True),
            _level(f'"{column}_l" = "{column}_r"', "exact"),
            _level("ELSE", "else"),
        ],
    }


def _given_name() -> dict[str, Any]:
    return {
        "output_column_name": "given_name",
        "comparison_description": "given name tokens, canonical form, phonetics and Bloom Dice",
        "comparison_levels": [
            _level(
                f"given_token_l IS NULL OR given_token_r IS NULL OR {DOB_DIFFERS}",
                "null, or dates of birth differ",
                null=True,
            ),
            _level("given_token_l = given_token_r", "exact"),
            _level(
                "given_token_l = family_token_r AND family_token_l = given_token_r",
                "given and family swapped",
            ),
            _level("given_canon_token_l = given_canon_token_r", "same canonical name"),
            _level(f"{_dice('given_bloom')} >= 0.8", "Dice >= 0.8"),
            _level("given_phonetic_token_l = given_phonetic_token_r", "same phonetic code"),
            _level(f"{_dice('given_bloom')} >= 0.6", "Dice >= 0.6"),
            _level("ELSE", "else"),
        ],
    }


def _family_name() -> dict[str, Any]:
    return {
        "output_column_name": "family_name",
        "comparison_description": "family name tokens, shared parts, phonetics and Bloom Dice",
        "comparison_levels": [
            _level(
                f"family_token_l IS NULL OR family_token_r IS NULL OR {DOB_DIFFERS}",
                "null, or dates of birth differ",
                null=True,
            ),
            _level("family_token_l = family_token_r", "exact"),
            _level(
                "given_token_l = family_token_r AND family_token_l = given_token_r",
                "given and family swapped",
            ),
            _level(f"{_dice('family_bloom')} >= 0.8", "Dice >= 0.8"),
            _level("list_has_any(family_part_tokens_l, family_part_tokens_r)", "a shared part"),
            _level("family_phonetic_token_l = family_phonetic_token_r", "same phonetic code"),
            _level(f"{_dice('family_bloom')} >= 0.5", "Dice >= 0.5"),
            _level("ELSE", "else"),
        ],
    }


def _date_of_birth() -> dict[str, Any]:
    return {
        "output_column_name": "date_of_birth",
        "comparison_description": (
            "date of birth: exact, day and month swapped, or (with the same whole name) one part "
            "wrong or only the year the same"
        ),
        "comparison_levels": [
            _level("dob_token_l IS NULL OR dob_token_r IS NULL", "null", null=True),
            _level("dob_token_l = dob_token_r", "exact"),
            _level(f"({DOB_SWAPPED}) AND {SAME_NAME_YEAR}", "day and month swapped, same name"),
            _level(
                "name_ym_token_l = name_ym_token_r OR name_md_token_l = name_md_token_r "
                "OR name_yd_token_l = name_yd_token_r",
                "same name, two of three parts",
            ),
            _level(
                "sound_ym_token_l = sound_ym_token_r OR sound_md_token_l = sound_md_token_r "
                "OR sound_yd_token_l = sound_yd_token_r",
                "names sound the same, two of three parts",
            ),
            _level(
                " OR ".join(
                    f"{who}_{part}_token_l = {who}_{part}_token_r"
                    for who in ("given", "family")
                    for part in ("ym", "md", "yd")
                ),
                "one name the same, two of three parts",
            ),
            _level(SAME_NAME_YEAR, "same name and year"),
            _level(DOB_SWAPPED, "day and month swapped"),
            _level("ELSE", "else"),
        ],
    }


def _postcode() -> dict[str, Any]:
    return {
        "output_column_name": "postcode",
        "comparison_description": "postcode: full, sector, district",
        "comparison_levels": [
            _level(
                "postcode_district_token_l IS NULL OR postcode_district_token_r IS NULL",
                "null",
                null=True,
            ),
            _level("postcode_token_l = postcode_token_r", "exact"),
            _level("postcode_sector_token_l = postcode_sector_token_r", "same sector"),
            _level("postcode_district_token_l = postcode_district_token_r", "same district"),
            _level("ELSE", "else"),
        ],
    }


BLOCKING_RULES = (
    "l.nhs_token = r.nhs_token",
    "l.ni_token = r.ni_token",
    "l.dob_token = r.dob_token AND l.family_phonetic_token = r.family_phonetic_token",
    "l.dob_token = r.dob_token AND l.given_canon_token = r.given_canon_token",
    "l.dob_token = r.dob_token AND l.postcode_sector_token = r.postcode_sector_token",
    "l.dob_token = r.dob_token AND l.given_phonetic_token = r.family_phonetic_token",
    "l.name_ym_token = r.name_ym_token",
    "l.name_md_token = r.name_md_token",
    "l.name_yd_token = r.name_yd_token",
    "l.name_year_token = r.name_year_token",
    *(
        f"l.{who}_{part}_token = r.{who}_{part}_token"
        for who in ("given", "family")
        for part in ("ym", "md", "yd")
    ),  # fmt: skip
    "l.dob_swap_token = r.dob_token",
)

# Rules that admit almost no false matches, for the prior (probability two records match).
DETERMINISTIC_RULES = (
    "l.nhs_token = r.nhs_token AND l.dob_token = r.dob_token",
    "l.ni_token = r.ni_token AND l.dob_token = r.dob_token",
    "l.given_token = r.given_token AND l.family_token = r.family_token "
    "AND l.dob_token = r.dob_token AND l.postcode_token = r.postcode_token",
)

# EM sessions: each blocks on some comparisons and so trains the others.
TRAINING_BLOCKS = (
    "l.dob_token = r.dob_token AND l.postcode_district_token = r.postcode_district_token",
    "l.nhs_token = r.nhs_token",
    "l.ni_token = r.ni_token",
)


def splink_settings() -> dict[str, Any]:
    """The Splink settings: dedupe over every source at once, records unioned beforehand."""
    return {
        "link_type": "dedupe_only",
        "unique_id_column_name": UNIQUE_ID,
        "probability_two_random_records_match": 1e-5,
        "comparisons": [
            _exact("nhs_token", "NHS number token"),
            _exact("ni_token", "NI number token"),
            _given_name(),
            _family_name(),
            _date_of_birth(),
            _postcode(),
        ],
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": rule} for rule in BLOCKING_RULES
        ],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "additional_columns_to_retain": [],
    }
