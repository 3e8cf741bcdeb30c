"""Standardise identity fields column by column, with reason codes for what cannot be used.

Every function takes and returns whole pandas Series (index preserved) so the pull step stays
columnar. Every standardiser runs once per *distinct* value (an extract repeats each person's
identifiers and each event date many times) and is mapped back by Arrow dictionary indices:
string work that needs Python (accent folding, titles) touches only the distinct values, and
format checks (NHS modulus 11, NI, postcode, dates) run in pyarrow or numpy.

Outputs use pyarrow-backed dtypes: strings are ``pd.StringDtype("pyarrow")`` (null is ``pd.NA``),
dates ``pd.ArrowDtype(pa.date32())``, masks plain ``bool``. A *bad mask* is True only where a
value was present (non-empty after stripping) but unusable; missing values are never bad.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable, Mapping
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Reason codes the pull step writes to quarantine (`;`-joined in `reasons`).
BAD_DATE: Final = "unparseable_date"
BAD_DOB: Final = "impossible_date_of_birth"
BAD_NHS: Final = "invalid_nhs_number"
BAD_NI: Final = "invalid_ni_number"
BAD_POSTCODE: Final = "malformed_postcode"
BAD_SEX: Final = "unknown_sex_code"
MISSING_ID: Final = "missing_record_id"
DUPLICATE_ID: Final = "duplicate_record_id"
END_BEFORE_START: Final = "event_ends_before_it_starts"
FUTURE_EVENT: Final = "event_date_in_the_future"
REASON_CODES: Final = (
    BAD_DATE,
    BAD_DOB,
    BAD_NHS,
    BAD_NI,
    BAD_POSTCODE,
    BAD_SEX,
    MISSING_ID,
    DUPLICATE_ID,
    END_BEFORE_START,
    FUTURE_EVENT,
)

STRING: Final = pd.StringDtype("pyarrow")
DATE: Final = pd.ArrowDtype(pa.date32())
EARLIEST_DOB: Final = dt.date(1900, 1, 1)

TITLES: Final = frozenset(
    {"MR", "MRS", "MS", "MISS", "MX", "DR", "PROF", "REV", "SIR", "DAME", "LORD", "LADY"}
)

# Letters that Unicode decomposition does not reduce to ASCII, and quote-like marks whose
# decomposition would otherwise leave a space (the acute accent U+00B4 decomposes to " ́").
_SPECIAL = str.maketrans(
    {
        "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "ß": "ss", "ẞ": "SS",
        "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH", "œ": "oe", "Œ": "OE",
        "ı": "i", "ħ": "h", "Ħ": "H", "ŧ": "t", "Ŧ": "T", "ŋ": "n", "Ŋ": "N", "ĸ": "k",
        "ſ": "s", "ƒ": "f", "ɖ": "d", "Ɖ": "D",
        "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-",
        "\u2015": "-", "\u2212": "-",
        "\u00b4": "", "\u2018": "", "\u2019": "", "\u02bc": "", "\u02b9": "", "\u2032": "",
        "\u0060": "",
    }
)  # fmt: skip

# ASCII pass: lower → upper, hyphen and whitespace → space, every other non-letter deleted.
_ASCII = {c: None for c in range(128)}
_ASCII.update({ord(c): c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"})
_ASCII.update({ord(c): c.upper() for c in "abcdefghijklmnopqrstuvwxyz"})
_ASCII.update({ord(c): " " for c in "- \t\n\r\f\v"})


def _name(raw: str) -> str | None:
    if not raw.isascii():
        raw = raw.translate(_SPECIAL)
        raw = unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode("ascii")
    words = raw.translate(_ASCII).split()
    # A title is dropped only while a word would remain: LORD and LADY are also surnames.
    while len(words) > 1 and words[0] in TITLES:
        words.pop(0)
    return " ".join(words) or None


def record_ids(values: pd.Series) -> pa.Array:
    """Record ids as text without surrounding space; an empty id is a missing one (null)."""
    ids = pc.utf8_trim_whitespace(_arrow_strings(values))
    return pc.if_else(pc.equal(ids, ""), pa.scalar(None, pa.string()), ids)


def standardise_name(values: pd.Series) -> pd.Series:
    """Upper-case ASCII name, parts separated by one space; empty becomes null.

    Accents are folded by Unicode decomposition (and ł, ø, æ, ß, đ, þ, œ by table); leading
    titles are dropped; hyphens become spaces so each part of a double-barrelled name stays a
    word; apostrophes and other punctuation are deleted (O'Brien → OBRIEN). Letters outside the
    Latin script have no ASCII form and are dropped. Runs once per distinct value.
    """
    return _map_distinct(values, _name)


def standardise_date(values: pd.Series, fmt: str | None = None) -> tuple[pd.Series, pd.Series]:
    """Parse dates by the strptime format `fmt`; returns (date32 dates, bad mask).

    Values that are already dates or datetimes (Parquet date32, datetime64) are converted, not
    parsed; `fmt` None means ISO 8601 (%Y-%m-%d), for sources whose dates need no format.
    Arrow's strptime rolls impossible days over (30 February → 2 March), so each parse
    is checked by formatting it back and comparing, ignoring case and leading zeros.
    """
    if _is_temporal(values):
        return _to_date32(values), pd.Series(False, index=values.index)
    fmt = fmt or "%Y-%m-%d"

    def parse(raw: pa.Array) -> tuple[pa.Array, pa.Array]:
        raw = pc.utf8_trim_whitespace(raw)
        present = pc.fill_null(pc.greater(pc.utf8_length(raw), 0), False)
        parsed = pc.strptime(raw, format=fmt, unit="s", error_is_null=True)
        back = pc.strftime(parsed, format=fmt)
        ok = pc.fill_null(pc.equal(_loose(back), _loose(raw)), False)
        dates = pc.if_else(ok, pc.cast(parsed, pa.date32()), pa.scalar(None, pa.date32()))
        return dates, pc.and_(present, pc.invert(ok))

    dates, bad = _per_distinct(values, parse)
    return _series(dates, values.index, DATE), _mask(bad, values.index)


def check_date_of_birth(dob: pd.Series, on: dt.date) -> pd.Series:
    """Bad mask of dates of birth after `on` (the extract or event date) or before 1900."""
    days = _to_date32(dob).array._pa_array
    bad = pc.or_(pc.greater(days, pa.scalar(on, pa.date32())), pc.less(days, EARLIEST_DOB))
    return _mask(pc.fill_null(bad, False), dob.index)


_NHS_WEIGHTS = np.arange(10, 1, -1, dtype=np.int64)


def standardise_nhs_number(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Validate NHS numbers by modulus 11; returns (10 digits or null, bad mask).

    Spaces and hyphens are stripped. The check: weights 10..2 on the first nine digits,
    check = 11 − (sum mod 11), 11 → 0, 10 → never issued. Equivalently, with weight 1 on the
    check digit the weighted sum of all ten digits is 0 mod 11. Because the ten weights differ
    mod 11 and 11 is prime, every single-digit error and every transposition of two different
    digits (adjacent or not, check digit included) fails the check: detection is 100%.
    """
    return _standardised(values, _nhs_numbers)


def _nhs_numbers(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    raw = pc.replace_substring_regex(values, pattern=r"[\s\-]", replacement="")
    present = pc.fill_null(pc.greater(pc.utf8_length(raw), 0), False)
    shaped = pc.fill_null(pc.match_substring_regex(raw, pattern=r"^[0-9]{10}$"), False)
    ok = np.zeros(len(raw), dtype=bool)
    idx = np.flatnonzero(shaped.to_numpy(zero_copy_only=False))
    if len(idx):
        text = "".join(raw.take(pa.array(idx)).to_pylist()).encode("ascii")
        digits = (np.frombuffer(text, dtype=np.uint8).reshape(-1, 10) - 48).astype(np.int64)
        check = (11 - (digits[:, :9] @ _NHS_WEIGHTS) % 11) % 11
        ok[idx] = check == digits[:, 9]
    ok_arr = pa.array(ok)
    out = pc.if_else(ok_arr, raw, pa.scalar(None, pa.string()))
    return out, pc.and_(present, pc.invert(ok_arr))


# HMRC: first letter not D F I Q U V; second also not O; these prefixes never issued.
_NI_RE = r"^[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]$"
_NI_BAD_PREFIX = pa.array(["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"])


def standardise_ni_number(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Validate National Insurance numbers by HMRC's format; returns (AA999999A or null, bad)."""
    return _standardised(values, _ni_numbers)


def _ni_numbers(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    raw = pc.replace_substring_regex(pc.utf8_upper(values), pattern=r"\s", replacement="")
    present = pc.fill_null(pc.greater(pc.utf8_length(raw), 0), False)
    shaped = pc.fill_null(pc.match_substring_regex(raw, pattern=_NI_RE), False)
    prefix_ok = pc.invert(pc.is_in(pc.utf8_slice_codeunits(raw, 0, 2), value_set=_NI_BAD_PREFIX))
    ok = pc.and_(shaped, prefix_ok)
    out = pc.if_else(ok, raw, pa.scalar(None, pa.string()))
    return out, pc.and_(present, pc.invert(ok))


_OUTWARD = r"(?:[A-Z][0-9]{1,2}|[A-Z]{2}[0-9]{1,2}|[A-Z][0-9][A-Z]|[A-Z]{2}[0-9][A-Z])"
_FULL_RE = rf"^{_OUTWARD}[0-9][A-Z]{{2}}$"
_DISTRICT_RE = rf"^{_OUTWARD}$"


def standardise_postcode(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Normalise UK postcodes to "OUTWARD INWARD"; returns (postcode or null, bad mask).

    Case and spaces are ignored. An outward code alone (a district, e.g. "AB1") is kept as it
    is and is not bad: the district still places the person. The inward code is always the last
    three characters, so the split is unambiguous.
    """
    return _standardised(values, _postcodes)


def _postcodes(values: pa.Array) -> tuple[pa.Array, pa.Array]:
    raw = pc.replace_substring_regex(pc.utf8_upper(values), pattern=r"\s", replacement="")
    present = pc.fill_null(pc.greater(pc.utf8_length(raw), 0), False)
    full = pc.fill_null(pc.match_substring_regex(raw, pattern=_FULL_RE), False)
    district = pc.fill_null(pc.match_substring_regex(raw, pattern=_DISTRICT_RE), False)
    spaced = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(raw, 0, -3), pc.utf8_slice_codeunits(raw, -3), " "
    )
    null = pa.scalar(None, pa.string())
    out = pc.if_else(full, spaced, pc.if_else(district, raw, null))
    return out, pc.and_(present, pc.invert(pc.or_(full, district)))


def postcode_district(postcode: pd.Series) -> pd.Series:
    """The outward code (postcode district) of standardised postcodes: "AB1 2CD" → "AB1"."""
    arr = _arrow_strings(postcode)
    return _series(pc.replace_substring_regex(arr, pattern=r" .*$", replacement=""), postcode.index)


def standardise_sex(values: pd.Series, sex_map: Mapping[str, str]) -> tuple[pd.Series, pd.Series]:
    """Map raw sex codes through the source's `sex_map` to M, F or null; returns (sex, bad).

    Keys match the stripped raw value exactly, else case-insensitively. A value mapped to U (or
    anything but M/F) becomes null and is not bad; a non-empty value not in the map is bad.
    """
    exact = {str(k).strip(): str(v).strip().upper() for k, v in sex_map.items()}
    folded = {k.upper(): v for k, v in exact.items()}

    def mapped(distinct: pa.Array) -> tuple[pa.Array, pa.Array]:
        sexes, unknown = [], []
        for u in distinct.to_pylist():
            key = u.strip()
            v = exact.get(key, folded.get(key.upper()))
            unknown.append(v is None and bool(key))
            sexes.append(v if v in ("M", "F") else None)
        return pa.array(sexes, type=pa.string()), pa.array(unknown, type=pa.bool_())

    return _standardised(values, mapped)


# --- helpers ---------------------------------------------------------------------------------


def _per_distinct(
    values: pd.Series, fn: Callable[[pa.Array], tuple[pa.Array, ...]]
) -> tuple[pa.Array, ...]:
    """`fn` over the column's distinct non-null strings, each of its outputs taken back to rows.

    A null input row gives null in every output (a mask output then reads as not bad).
    """
    encoded = pc.dictionary_encode(_arrow_strings(values))
    return tuple(out.take(encoded.indices) for out in fn(encoded.dictionary))


def _standardised(
    values: pd.Series, fn: Callable[[pa.Array], tuple[pa.Array, pa.Array]]
) -> tuple[pd.Series, pd.Series]:
    """(standardised strings, bad mask) from `fn` run once per distinct value."""
    out, bad = _per_distinct(values, fn)
    return _series(out, values.index, STRING), _mask(bad, values.index)


def _map_distinct(values: pd.Series, fn: Callable[[str], str | None]) -> pd.Series:
    (mapped,) = _per_distinct(
        values, lambda distinct: (pa.array([fn(u) for u in distinct.to_pylist()], pa.string()),)
    )
    return _series(mapped, values.index, STRING)


def _series(arr: pa.Array | pa.ChunkedArray, index: pd.Index, dtype=STRING) -> pd.Series:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if dtype == STRING:
        if arr.type != pa.string():
            arr = arr.cast(pa.string())
        return pd.Series(pd.arrays.ArrowStringArray(arr), index=index)
    return pd.Series(pd.arrays.ArrowExtensionArray(arr), index=index)


def _mask(arr: pa.Array | pa.ChunkedArray, index: pd.Index) -> pd.Series:
    return pd.Series(np.asarray(pc.fill_null(arr, False), dtype=bool), index=index)


def _loose(arr: pa.Array) -> pa.Array:
    """Upper case, no leading zeros in numeric fields: "01/2/2023" and "1/02/2023" agree."""
    return pc.replace_substring_regex(
        pc.utf8_upper(arr), pattern=r"(^|\D)0+(\d)", replacement=r"\1\2"
    )


def _as_text(v: object) -> str | None:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def _arrow_strings(values: pd.Series) -> pa.Array:
    """Any column as an Arrow string array: codes read as numbers (1.0, 485777345) become text."""
    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr is not None:
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            return arr.cast(pa.string())
        if pa.types.is_integer(arr.type) or pa.types.is_null(arr.type):
            return arr.cast(pa.string())
        if pa.types.is_dictionary(arr.type):
            return arr.cast(pa.string())
    return pa.array(_strings_object(values), type=pa.string(), from_pandas=True)


def _strings_object(values: pd.Series) -> np.ndarray:
    """The column as an object array of str or None (cheap for string dtypes)."""
    if isinstance(values.dtype, pd.StringDtype) or (
        isinstance(values.dtype, pd.ArrowDtype) and pa.types.is_string(values.dtype.pyarrow_dtype)
    ):
        return values.to_numpy(dtype=object, na_value=None)
    if pd.api.types.is_object_dtype(values.dtype):
        arr = values.to_numpy()
        if pd.api.types.infer_dtype(arr, skipna=True) in ("string", "empty"):
            missing = pd.isna(arr)
            return np.where(missing, None, arr) if missing.any() else arr
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    text = np.array([_as_text(u) for u in uniques] + [None], dtype=object)
    return text[codes]


def _is_temporal(values: pd.Series) -> bool:
    dtype = values.dtype
    if isinstance(dtype, pd.ArrowDtype):
        t = dtype.pyarrow_dtype
        return pa.types.is_date(t) or pa.types.is_timestamp(t)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return True
    if pd.api.types.is_object_dtype(dtype):
        return pd.api.types.infer_dtype(values, skipna=True) in ("date", "datetime", "datetime64")
    return False


def _to_date32(values: pd.Series) -> pd.Series:
    """Dates, datetimes or date32 as a date32 Series (no parsing)."""
    dtype = values.dtype
    if isinstance(dtype, pd.ArrowDtype):
        arr = values.array._pa_array
    elif pd.api.types.is_datetime64_any_dtype(dtype):
        arr = pa.array(values.dt.tz_localize(None) if values.dt.tz else values, from_pandas=True)
    elif pd.api.types.infer_dtype(values, skipna=True) == "date":
        arr = pa.array(values.to_numpy(dtype=object, na_value=None), type=pa.date32())
    else:
        items = [
            None if v is None or v is pd.NA or v is pd.NaT else v
            for v in values.to_numpy(dtype=object)
        ]
        items = [v.date() if isinstance(v, dt.datetime) else v for v in items]
        arr = pa.array(items, type=pa.date32())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return _series(arr.cast(pa.date32()), values.index, DATE)
