"""The Splink model: comparisons over keyed encodings only, never over plaintext.

Each comparison is built from equality of keyed tokens (which keyed hashing preserves) and Dice
similarity of keyed Bloom filters (which approximates bigram similarity of the names), so the
model sees typos, nicknames, swapped names, transposed dates and stale postcodes without ever
holding a name, date or postcode.
"""

from __future__ import annotations

from typing import Any

from placelink.encode import OUTPUT_COLUMNS

UNIQUE_ID = "profile_id"

# Columns that identify a profile: one row per distinct encoded identity.
PROFILE_COLUMNS = (*OUTPUT_COLUMNS, "postcode_district", "sex")


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
            _level("given_token_l IS NULL OR given_token_r IS NULL", "null", null=True),
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
            _level("family_token_l IS NULL OR family_token_r IS NULL", "null", null=True),
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
        "comparison_description": "date of birth tokens: exact, day and month swapped, two parts",
        "comparison_levels": [
            _level("dob_token_l IS NULL OR dob_token_r IS NULL", "null", null=True),
            _level("dob_token_l = dob_token_r", "exact"),
            _level(
                "dob_token_l = dob_swap_token_r OR dob_swap_token_l = dob_token_r",
                "day and month swapped",
            ),
            _level(
                "dob_ym_token_l = dob_ym_token_r OR dob_md_token_l = dob_md_token_r "
                "OR dob_yd_token_l = dob_yd_token_r",
                "two of three parts",
            ),
            _level("birth_year_token_l = birth_year_token_r", "same year"),
            _level("ELSE", "else"),
        ],
    }


def _postcode() -> dict[str, Any]:
    return {
        "output_column_name": "postcode",
        "comparison_description": "postcode: full, sector, district",
        "comparison_levels": [
            _level("postcode_district_l IS NULL OR postcode_district_r IS NULL", "null", null=True),
            _level("postcode_token_l = postcode_token_r", "exact"),
            _level("postcode_sector_token_l = postcode_sector_token_r", "same sector"),
            _level("postcode_district_l = postcode_district_r", "same district"),
            _level("ELSE", "else"),
        ],
    }


BLOCKING_RULES = (
    "l.nhs_token = r.nhs_token",
    "l.ni_token = r.ni_token",
    "l.dob_token = r.dob_token AND l.family_phonetic_token = r.family_phonetic_token",
    "l.dob_token = r.dob_token AND l.given_canon_token = r.given_canon_token",
    "l.dob_token = r.dob_token AND l.postcode_sector_token = r.postcode_sector_token",
    "l.given_canon_token = r.given_canon_token AND l.family_token = r.family_token",
    "l.given_phonetic_token = r.given_phonetic_token AND l.family_phonetic_token = "
    "r.family_phonetic_token AND l.postcode_district = r.postcode_district",
    "l.dob_swap_token = r.dob_token AND l.family_phonetic_token = r.family_phonetic_token",
    "l.postcode_token = r.postcode_token AND l.dob_ym_token = r.dob_ym_token",
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
    "l.dob_token = r.dob_token AND l.postcode_district = r.postcode_district",
    "l.given_canon_token = r.given_canon_token AND l.family_token = r.family_token",
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
            _exact("sex", "recorded sex"),
        ],
        "blocking_rules_to_generate_predictions": [
            {"blocking_rule": rule} for rule in BLOCKING_RULES
        ],
        "retain_matching_columns": False,
        "retain_intermediate_calculation_columns": False,
        "additional_columns_to_retain": [],
    }
