"""The Splink model: comparisons over keyed encodings only, never over plaintext, built from the
identity fields the sources actually carry.

Each comparison is built from equality of keyed tokens (which keyed hashing preserves) and Dice
similarity of keyed Bloom filters (which approximates bigram similarity of the names), so the
model sees typos, nicknames, swapped names, transposed dates and stale postcodes without ever
holding a name, date or postcode.

Name encodings are salted with the date of birth (placelink.encode), so two records' names can
be compared only when their dates of birth agree: otherwise the name comparisons take their null
level (no evidence either way) and the date-of-birth comparison carries the name instead, through
the composites of the whole name with part of the date.

Sources declare different identity fields (a benefits extract has no NHS number, a linkage
benchmark only names and dates of birth), so every comparison, blocking rule and training block
names the fields it needs, and the model keeps only those the records fill.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import SettingsCreator

from placelink.encode import BLOOM_BITS, OUTPUT_COLUMNS

UNIQUE_ID = "profile_id"

# Bloom filters reach Splink as BIGINT words and a bit count, so that Dice is SQL that DuckDB
# and Spark both run: Spark has no & on binary values, and both have & and bit_count on BIGINT.
BLOOM_COLUMNS = tuple(c for c in OUTPUT_COLUMNS if c.endswith("_bloom"))
BLOOM_WORDS = BLOOM_BITS // 64


def bloom_words(column: str) -> list[str]:
    """The BIGINT words a Bloom filter is carried in, first bits first."""
    return [f"{column}_{i}" for i in range(BLOOM_WORDS)]


def bloom_bits(column: str) -> str:
    """The column holding a Bloom filter's count of set bits."""
    return f"{column}_bits"


# Columns that identify a profile: one row per distinct encoded identity.
PROFILE_COLUMNS = OUTPUT_COLUMNS

# The columns of a profile Splink reads, and the saved state keeps: the encodings, each Bloom
# filter as its words and bit count.
SPLINK_COLUMNS = tuple(
    column
    for encoding in PROFILE_COLUMNS
    for column in (
        [*bloom_words(encoding), bloom_bits(encoding)] if encoding in BLOOM_COLUMNS else [encoding]
    )
)

# The encoding whose filling says a field is present (a declared field may be empty throughout).
FIELD_COLUMNS = {
    "nhs_number": "nhs_token",
    "ni_number": "ni_token",
    "given_name": "given_token",
    "family_name": "family_token",
    "date_of_birth": "dob_token",
    "postcode": "postcode_district_token",
    "sex": "family_sex_token",  # filled only with a family name and a date of birth
}
NAMES = frozenset({"given_name", "family_name"})
NAMES_AND_DOB = NAMES | {"date_of_birth"}

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

# m of the date-of-birth levels where no training block can estimate it: with names and dates
# of birth alone, every block that pairs records uses the date (names are salted with it), and
# Splink trains no comparison on a block that uses its columns. Trained on the demo town of
# 50,000 people (2026-12-02), among pairs of distinct profiles as the model scores them; a
# level's share is renormalised over the levels the model keeps.
DOB_M_FALLBACK = {
    "exact": 0.9181,
    "day and month swapped, same name": 0.0103,
    "same name, two of three parts": 0.0434,
    "names sound the same, two of three parts": 0.0070,
    "one name the same, two of three parts": 0.0100,
    "same name and year": 0.0030,
    "day and month swapped": 0.0040,
    "else": 0.0043,
}


@dataclass(frozen=True)
class Rule:
    """A blocking rule and the identity fields it needs filled to pair anything."""

    sql: str
    needs: frozenset[str]
    fixes: frozenset[str] = frozenset()
    """Comparisons the block holds constant though it reads none of their columns (a copy of a
    token): Splink would train them on it, so their m is put back after."""

    @property
    def columns(self) -> frozenset[str]:
        return frozenset(re.findall(r"\b[lr]\.(\w+)", self.sql))


def _rule(sql: str, *needs: str, fixes: tuple[str, ...] = ()) -> Rule:
    return Rule(sql, frozenset(needs), frozenset(fixes))


def _dice(column: str, other: str | None = None) -> str:
    """Dice of the left record's Bloom filter `column` and the right's `other` (or the same),
    2|A∩B| / (|A|+|B|), over their words (see BLOOM_WORDS).

    Each bit_count is cast to INTEGER (DuckDB's is TINYINT, and 512 bits overflow it), and the
    quotient is taken in DOUBLE (Spark divides a DECIMAL 2.0 to 6 places): the same value in
    both, and the one DuckDB gave over BIT values.
    """
    right = other or column
    common = " + ".join(
        f"cast(bit_count({a}_l & {b}_r) as int)"
        for a, b in zip(bloom_words(column), bloom_words(right), strict=True)
    )
    bits = f"{bloom_bits(column)}_l + {bloom_bits(right)}_r"
    return f"(cast(2 * ({common}) as double) / nullif({bits}, 0))"


# Given and family names swapped, one of them also misspelt or spelt another way (AISHA SHAH
# against SHAH AYESHA): given and family names share their encodings' domains, so one record's
# given name can be compared with the other's family name. The varied name must be one edit
# from the other or close in bigrams (Dice 0.55): at 0.4, SMITH PETER took OLIVER SMITH.
def _varied(left: str, right: str) -> str:
    return (
        f"({_dice(f'{left}_bloom', f'{right}_bloom')} >= 0.55 OR "
        # cardinality and array_intersect: one spelling DuckDB and Spark both run.
        f"cardinality(array_intersect({left}_edit_tokens_l, {right}_edit_tokens_r)) >= 1)"
    )


SWAPPED_ONE_VARIED = (
    f"(given_token_l = family_token_r AND {_varied('family', 'given')}) OR "
    f"(family_token_l = given_token_r AND {_varied('given', 'family')})"
)


def _level(sql: str, label: str) -> cll.CustomLevel:
    return cll.CustomLevel(sql, label_for_charts=label)


def _exact(column: str, label: str = "exact") -> cll.ComparisonLevelCreator:
    return cll.ExactMatchLevel(column).configure(label_for_charts=label)


def _name_null(column: str) -> cll.ComparisonLevelCreator:
    return cll.CustomLevel(
        f"{column}_l IS NULL OR {column}_r IS NULL OR {DOB_DIFFERS}",
        label_for_charts="null, or dates of birth differ",
    ).configure(is_null_level=True)


def _one_edit_apart(column: str) -> cll.ComparisonLevelCreator:
    return cll.ArrayIntersectLevel(column, min_intersection=1).configure(
        label_for_charts="one edit apart"
    )


def _swapped() -> cll.ComparisonLevelCreator:
    return cll.ColumnsReversedLevel("given_token", "family_token", symmetrical=True).configure(
        label_for_charts="given and family swapped"
    )


def _given_name(fields: frozenset[str]) -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="given_name",
        comparison_description="given name tokens, canonical form, phonetics and Bloom Dice",
        comparison_levels=[
            _name_null("given_token"),
            _exact("given_token"),
            *(
                [_swapped(), _level(SWAPPED_ONE_VARIED, "swapped, one name varied")]
                if "family_name" in fields
                else []
            ),
            _exact("given_canon_token", "same canonical name"),
            _level(f"{_dice('given_bloom')} >= 0.8", "Dice >= 0.8"),
            _one_edit_apart("given_edit_tokens"),
            _exact("given_phonetic_token", "same phonetic code"),
            _level(f"{_dice('given_bloom')} >= 0.6", "Dice >= 0.6"),
            cll.ElseLevel(),
        ],
    )


def _family_name(fields: frozenset[str]) -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="family_name",
        comparison_description="family name tokens, shared parts, phonetics and Bloom Dice",
        comparison_levels=[
            # The given name comparison scores a swap (exact, or with one name varied); here
            # it is no evidence, where "else" would count the same two names against the pair
            # and a second swapped level would count them twice.
            cll.Or(
                _name_null("family_token"),
                *([_level(SWAPPED_ONE_VARIED, "")] if "given_name" in fields else []),
            ).configure(is_null_level=True, label_for_charts="null, dates differ, or swapped"),
            _exact("family_token"),
            _level(f"{_dice('family_bloom')} >= 0.8", "Dice >= 0.8"),
            _one_edit_apart("family_edit_tokens"),
            cll.ArrayIntersectLevel("family_part_tokens", min_intersection=1).configure(
                label_for_charts="a shared part"
            ),
            _exact("family_phonetic_token", "same phonetic code"),
            _level(f"{_dice('family_bloom')} >= 0.5", "Dice >= 0.5"),
            cll.ElseLevel(),
        ],
    )


def _any_agrees(columns: Iterable[str]) -> str:
    return " OR ".join(f"{c}_l = {c}_r" for c in columns)


def _date_of_birth(fields: frozenset[str]) -> cl.CustomComparison:
    parts = ("ym", "md", "yd")
    names = [who for who in ("given", "family") if f"{who}_name" in fields]
    both = len(names) == 2
    return cl.CustomComparison(
        output_column_name="date_of_birth",
        comparison_description=(
            "date of birth: exact, day and month swapped, or (with the same whole name) one part "
            "wrong or only the year the same"
        ),
        comparison_levels=[
            cll.NullLevel("dob_token"),
            _exact("dob_token"),
            *(
                [
                    _level(
                        f"({DOB_SWAPPED}) AND {SAME_NAME_YEAR}", "day and month swapped, same name"
                    ),
                    _level(
                        _any_agrees(f"name_{p}_token" for p in parts),
                        "same name, two of three parts",
                    ),
                    _level(
                        _any_agrees(f"sound_{p}_token" for p in parts),
                        "names sound the same, two of three parts",
                    ),
                ]
                if both
                else []
            ),
            *(
                [
                    _level(
                        _any_agrees(f"{who}_{p}_token" for who in names for p in parts),
                        "one name the same, two of three parts",
                    )
                ]
                if names
                else []
            ),
            *([_level(SAME_NAME_YEAR, "same name and year")] if both else []),
            _level(DOB_SWAPPED, "day and month swapped"),
            cll.ElseLevel(),
        ],
    )


def _postcode() -> cl.CustomComparison:
    return cl.CustomComparison(
        output_column_name="postcode",
        comparison_description="postcode: full, sector, district",
        comparison_levels=[
            cll.NullLevel("postcode_district_token"),
            _exact("postcode_token"),
            _exact("postcode_sector_token", "same sector"),
            _exact("postcode_district_token", "same district"),
            cll.ElseLevel(),
        ],
    )


NAME_DATE_COMPOSITES = tuple(
    f"{who}_{part}_token"
    for who in ("name", "sound", "given", "family")
    for part in ("ym", "md", "yd", *(("year",) if who == "name" else ()))
)


def _names_at_postcode(fields: frozenset[str]) -> cl.CustomComparison:
    """The names of two records at one full postcode whose dates of birth differ: there the
    salted names cannot be compared, and a wrong or missing date would otherwise hide that
    the same names live at the same address. Where the dates agree, the name comparisons
    already carry the names, so this one says nothing (its null level), nor across postcodes,
    which the postcode comparison scores."""
    given, family = "given_pc_token", "family_pc_token"
    both = {"given_name", "family_name"} <= fields
    return cl.CustomComparison(
        output_column_name="names_at_postcode",
        comparison_description="names at the same full postcode, where dates of birth differ",
        comparison_levels=[
            cll.CustomLevel(
                "postcode_token_l IS NULL OR postcode_token_r IS NULL "
                f"OR postcode_token_l <> postcode_token_r OR NOT ({DOB_DIFFERS}) "
                f"OR {_any_agrees(NAME_DATE_COMPOSITES)}",
                label_for_charts="null, another postcode, or names scored with the date",
            ).configure(is_null_level=True),
            *(
                [
                    _level(
                        f"({given}_l = {given}_r AND {family}_l = {family}_r) "
                        f"OR ({given}_l = {family}_r AND {family}_l = {given}_r)",
                        "both names",
                    )
                ]
                if both
                else []
            ),
            *([_exact(family, "family name")] if "family_name" in fields else []),
            *([_exact(given, "given name")] if "given_name" in fields else []),
            cll.ElseLevel(),
        ],
    )


def _sex() -> cl.CustomComparison:
    """Sex, for two records of one family name and date of birth (family_token is salted with
    the date, so its equality says both): the only place the linkage zone sees it. Elsewhere it
    is no evidence either way."""
    return cl.CustomComparison(
        output_column_name="sex",
        comparison_description="sex, where the family name and date of birth agree",
        comparison_levels=[
            cll.CustomLevel(
                "family_sex_token_l IS NULL OR family_sex_token_r IS NULL "
                "OR family_token_l IS DISTINCT FROM family_token_r",
                label_for_charts="null, or another family name or date of birth",
            ).configure(is_null_level=True),
            _exact("family_sex_token"),
            cll.ElseLevel(),
        ],
    )


def comparisons(fields: frozenset[str]) -> list[cl.CustomComparison]:
    """One comparison per identity field present (sex only with family name and date of birth,
    which its encoding carries)."""
    built = {
        "nhs_number": lambda: cl.CustomComparison(
            [cll.NullLevel("nhs_token"), _exact("nhs_token"), cll.ElseLevel()],
            "nhs_token",
            "NHS number token",
        ),
        "ni_number": lambda: cl.CustomComparison(
            [
                cll.NullLevel("ni_token"),
                _exact("ni_token"),
                cll.ArrayIntersectLevel("ni_masked_tokens", min_intersection=1).configure(
                    label_for_charts="one character apart"
                ),
                cll.ElseLevel(),
            ],
            "ni_token",
            "NI number token: exact, or one character apart",
        ),
        "given_name": lambda: _given_name(fields),
        "family_name": lambda: _family_name(fields),
        "date_of_birth": lambda: _date_of_birth(fields),
        "postcode": _postcode,
        "sex": _sex,
    }
    made = [make() for field, make in built.items() if field in fields]
    if "postcode" in fields and fields & NAMES:
        made.append(_names_at_postcode(fields))
    return made


def level_sql(fields: frozenset[str], dialect: str = "duckdb") -> dict[str, list[str]]:
    """Each comparison's level conditions in `dialect`, in order: the link step's own SQL over
    the profiles runs on DuckDB whichever backend Splink ran on (its model holds that one's)."""
    rendered = (creator.get_comparison(dialect) for creator in comparisons(fields))
    return {
        comparison.output_column_name: [lvl.sql_condition for lvl in comparison.comparison_levels]
        for comparison in rendered
    }


def columns_read(fields: frozenset[str]) -> dict[str, frozenset[str]]:
    """The encodings each comparison reads: Splink trains no comparison on a block using one."""
    return {
        name: frozenset(
            column
            for condition in conditions
            for column in re.findall(r"\"?(\w+)_[lr]\b", condition)
        )
        for name, conditions in level_sql(fields).items()
    }


_COMPOSITES = tuple(
    _rule(f"l.{who}_{part}_token = r.{who}_{part}_token", f"{who}_name", "date_of_birth")
    for who in ("given", "family")
    for part in ("ym", "md", "yd")
)

# Candidate pairs: each rule pairs records that agree on a token and its second field (names
# are salted with the date of birth, so a name token already carries the whole date).
BLOCKING_RULES = (
    _rule("l.nhs_token = r.nhs_token", "nhs_number"),
    _rule("l.ni_token = r.ni_token", "ni_number"),
    _rule(
        "l.dob_token = r.dob_token AND l.family_phonetic_token = r.family_phonetic_token",
        "date_of_birth",
        "family_name",
    ),
    _rule(
        "l.dob_token = r.dob_token AND l.given_canon_token = r.given_canon_token",
        "date_of_birth",
        "given_name",
    ),
    _rule(
        "l.dob_token = r.dob_token AND l.postcode_sector_token = r.postcode_sector_token",
        "date_of_birth",
        "postcode",
    ),
    _rule(
        "l.dob_token = r.dob_token AND l.given_phonetic_token = r.family_phonetic_token",
        *NAMES_AND_DOB,
    ),
    _rule("l.name_ym_token = r.name_ym_token", *NAMES_AND_DOB),
    _rule("l.name_md_token = r.name_md_token", *NAMES_AND_DOB),
    _rule("l.name_yd_token = r.name_yd_token", *NAMES_AND_DOB),
    _rule("l.name_year_token = r.name_year_token", *NAMES_AND_DOB),
    *_COMPOSITES,
    _rule("l.dob_swap_token = r.dob_token", "date_of_birth"),
    _rule("l.family_pc_token = r.family_pc_token", "family_name", "postcode"),
    _rule("l.given_pc_token = r.given_pc_token", "given_name", "postcode"),
)

# A rule that alone would pair more profiles than a setting allows (a city's names repeat
# within a day of the year) is narrowed to pairs in one postcode district as well.
NARROWING = "l.postcode_district_token = r.postcode_district_token"


def narrowed(rule: str, fields: frozenset[str]) -> str | None:
    """The rule with NARROWING added, or None where it cannot be narrowed so: the records hold
    no postcode, or the rule is not one of BLOCKING_RULES or needs a postcode already."""
    known = next((r for r in BLOCKING_RULES if r.sql == rule), None)
    if "postcode" not in fields or known is None or "postcode" in known.needs:
        return None
    return f"{rule} AND {NARROWING}"


# Rules that admit almost no false matches, for the prior (probability two records match); the
# name rule takes the postcode as well where there is one.
DETERMINISTIC_RULES = (
    _rule("l.nhs_token = r.nhs_token AND l.dob_token = r.dob_token", "nhs_number", "date_of_birth"),
    _rule("l.ni_token = r.ni_token AND l.dob_token = r.dob_token", "ni_number", "date_of_birth"),
    _rule(
        "l.given_token = r.given_token AND l.family_token = r.family_token "
        "AND l.dob_token = r.dob_token AND l.postcode_token = r.postcode_token",
        *NAMES_AND_DOB,
        "postcode",
    ),
)
# Where no rule above fits: the date of birth and one whole name. Not both names: records are
# reduced to distinct identities first, so with names and dates of birth alone two profiles that
# agree on all three are one profile, and such a rule would count no pairs at all.
NAME_AND_DOB_RULES = (
    _rule(
        "l.dob_token = r.dob_token AND l.family_token = r.family_token",
        "date_of_birth",
        "family_name",
    ),
    _rule(
        "l.dob_token = r.dob_token AND l.given_token = r.given_token", "date_of_birth", "given_name"
    ),
)

# EM sessions: each blocks on some comparisons and so trains the others. Every primary block
# that pairs anything is used; a fallback is added only for a comparison no block has trained.
TRAINING_BLOCKS = (
    _rule(
        "l.dob_token = r.dob_token AND l.postcode_district_token = r.postcode_district_token",
        "date_of_birth",
        "postcode",
    ),
    _rule("l.nhs_token = r.nhs_token", "nhs_number"),
    _rule("l.ni_token = r.ni_token", "ni_number"),
)
# DOB_BLOCK is the date-of-birth token again, under a name no comparison reads: blocking on it
# pairs records of one date of birth, where the salted names can be compared, and Splink still
# trains the names on it (it would not on dob_token, which the names' null level reads). A
# block on any name token would fix the names it was meant to train.
DOB_BLOCK = "dob_block_token"
FALLBACK_TRAINING_BLOCKS = (
    _rule("l.postcode_token = r.postcode_token", "postcode"),
    _rule(f"l.{DOB_BLOCK} = r.{DOB_BLOCK}", "date_of_birth", fixes=("date_of_birth",)),
)


def usable(rules: Iterable[Rule], fields: frozenset[str]) -> list[Rule]:
    """The rules whose fields are all present."""
    return [rule for rule in rules if rule.needs <= fields]


def prior_rules(fields: frozenset[str]) -> list[Rule]:
    """Near-certain rules for the prior; names and date of birth alone when nothing else fits."""
    # A rule on every field present pairs no two profiles: they would be one profile.
    rules = [rule for rule in usable(DETERMINISTIC_RULES, fields) if not rule.needs >= fields]
    return rules or usable(NAME_AND_DOB_RULES, fields)


def splink_settings(fields: frozenset[str]) -> SettingsCreator:
    """The Splink settings: dedupe over every source at once, records unioned beforehand."""
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name=UNIQUE_ID,
        probability_two_random_records_match=1e-5,
        comparisons=comparisons(fields),
        blocking_rules_to_generate_predictions=[r.sql for r in usable(BLOCKING_RULES, fields)],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
        additional_columns_to_retain=[],
    )
