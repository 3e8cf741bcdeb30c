"""Keyed encodings of identities: the only form in which identifiers leave the secure zone.

Every encoding is a keyed HMAC-SHA256 under the linkage key, so a person without the key cannot
test a guessed name or date against the tokens (a dictionary attack on unkeyed hashes of dates
of birth takes seconds). Each field has its own domain separator, except that given and family
names share theirs (``name``, ``name_phonetic``, ``name_part`` and the Bloom bigram positions):
that lets linkage compare a record's given name with another's family name and so catch the
given/family swaps the extracts contain (DESIGN.md section 8).

Speed (DESIGN.md "Known traps"): every token is computed once per *distinct* value in the
batch and mapped back to rows by Arrow dictionary indices and ``take``, so Python sees only the
distinct values; the date-of-birth parts (year and month, day and month, ...) are hashed once
per distinct part, not per distinct date; Bloom filters hash each distinct bigram once and OR
precomputed bit masks per distinct name.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Final

import jellyfish
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from placelink.errors import ConfigError
from placelink.settings import Settings
from placelink.standardise import DATE, STRING, _arrow_strings, _series, standardise_date

MIN_KEY_BYTES: Final = 32
TOKEN_HEX: Final = 32  # 128 bits: collisions among even 10^9 distinct values are negligible.
FINGERPRINT_MESSAGE: Final = b"placelink-fingerprint"

BLOOM_BITS: Final = 512
BLOOM_BYTES: Final = BLOOM_BITS // 8
BLOOM_K: Final = 8
"""Bloom filter size and bits per bigram.

A padded name has about 7 bigrams (20 for a long double-barrelled one). With k = 8 of m = 512
bits, 56 bits are set (160 for the long name): 10% to 27% of the filter, so two unrelated
names share few bits by chance (Dice about 0.1) while a one-letter typo in a 7-letter name,
which changes 2 of 8 bigrams, keeps Dice near 0.75. Several bits per bigram mean no single
chance collision decides agreement; 64 bytes keep each filter one cache line for DuckDB's
``bit_count``. Positions come from a keyed HMAC of the bigram, not double hashing, so the
filters cannot be rebuilt without the key.
"""

OUTPUT_COLUMNS: Final = (
    "nhs_token",
    "ni_token",
    "given_token",
    "given_canon_token",
    "given_phonetic_token",
    "given_first_token",
    "given_bloom",
    "family_token",
    "family_phonetic_token",
    "family_part_tokens",
    "family_bloom",
    "dob_token",
    "dob_swap_token",
    "dob_ym_token",
    "dob_md_token",
    "dob_yd_token",
    "birth_year_token",
    "postcode_token",
    "postcode_sector_token",
)
TOKEN_COLUMNS: Final = tuple(c for c in OUTPUT_COLUMNS if c.endswith("_token"))
TOKEN_TYPE: Final = pa.string()
BLOOM_TYPE: Final = pa.binary(BLOOM_BYTES)
PARTS_TYPE: Final = pa.list_(pa.string())
OUTPUT_DTYPES: Final = {
    **{c: STRING for c in TOKEN_COLUMNS},
    "given_bloom": pd.ArrowDtype(BLOOM_TYPE),
    "family_bloom": pd.ArrowDtype(BLOOM_TYPE),
    "family_part_tokens": pd.ArrowDtype(PARTS_TYPE),
}


# --- the key ---------------------------------------------------------------------------------


def key_fingerprint(secret: bytes) -> str:
    """First 16 hex digits of HMAC-SHA256(key, "placelink-fingerprint"): shows which key, safely."""
    return hmac.new(secret, FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:16]


@dataclass(frozen=True)
class LinkageKey:
    """The linkage key, where it came from, and whether this call made it.

    `secret` is excluded from repr (and so from str, logs and tracebacks that format the key).
    """

    secret: bytes = field(repr=False)
    created: bool
    source: str

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.secret)


def load_key(settings: Settings) -> LinkageKey:
    """The key from PLACELINK_SECRET, else PLACELINK_SECRET_FILE, else secure/key (not production).

    Outside production a missing secure/key is created once (32 random bytes as hex, mode 0600)
    so a demo needs no setup; production refuses, since a key made on the fly would change every
    token between machines. Errors name the variable or file, never the value.
    """
    if settings.secret:
        return LinkageKey(
            _decode_key(settings.secret, "PLACELINK_SECRET"), False, "PLACELINK_SECRET"
        )
    if settings.secret_file is not None:
        path = Path(settings.secret_file)
        what = f"PLACELINK_SECRET_FILE {path}"
        return LinkageKey(_decode_key(_read_key_file(path, what), what), False, what)
    if settings.env == "production":
        raise ConfigError(
            "PLACELINK_ENV=production needs a key: set PLACELINK_SECRET or PLACELINK_SECRET_FILE"
        )
    path = settings.secure / "key"
    what = f"development key {path}"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        text = secrets.token_hex(MIN_KEY_BYTES)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first: use theirs
            pass
        else:
            with os.fdopen(fd, "w") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write(text + "\n")
            return LinkageKey(bytes.fromhex(text), True, what)
    return LinkageKey(_decode_key(_read_key_file(path, what), what), False, what)


def _read_key_file(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ConfigError(f"{what}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what}: cannot read the key ({type(exc).__name__})") from None


def _decode_key(text: str, what: str) -> bytes:
    """Hex first (a hex string is also valid base64 text), then standard or URL-safe base64."""
    raw = "".join(text.split())
    key: bytes | None = None
    if raw and len(raw) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in raw):
        key = bytes.fromhex(raw)
    elif raw.isascii():
        padded = raw + "=" * (-len(raw) % 4)
        for altchars in (None, b"-_"):
            try:
                key = base64.b64decode(padded, altchars=altchars, validate=True)
                break
            except (binascii.Error, ValueError):
                continue
    if key is None:
        raise ConfigError(f"{what}: the key is neither hex nor base64")
    if len(key) < MIN_KEY_BYTES:
        raise ConfigError(
            f"{what}: the key must be at least {MIN_KEY_BYTES} random bytes (hex or base64)"
        )
    return key


# --- tokens ----------------------------------------------------------------------------------


def _hmac_states(secret: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    """SHA-256 states after the HMAC inner and outer padded keys (RFC 2104)."""
    if len(secret) > 64:
        secret = hashlib.sha256(secret).digest()
    padded = secret.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))
    return inner, outer


class _Tokens:
    """Keyed token functions per domain and Bloom filters, memoised: a value is hashed once."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._fns: dict[str, Callable[[str], str]] = {}
        self._gram_masks: dict[str, int] = {}
        self._blooms: dict[str, bytes] = {}

    def __call__(self, domain: str) -> Callable[[str], str]:
        fn = self._fns.get(domain)
        if fn is None:
            # HMAC-SHA256(key, domain 0x1F value), computed from precomputed inner and outer
            # hash states: identical to hmac.new(...), about twice as fast per value.
            inner, outer = _hmac_states(self._secret)
            inner.update(domain.encode("ascii") + b"\x1f")
            memo: dict[str, str] = {}

            def fn(value: str, inner=inner, outer=outer, memo=memo) -> str:
                out = memo.get(value)
                if out is None:
                    i = inner.copy()
                    i.update(value.encode("utf-8"))
                    o = outer.copy()
                    o.update(i.digest())
                    out = memo[value] = o.hexdigest()[:TOKEN_HEX]
                return out

            self._fns[domain] = fn
        return fn

    def bloom(self, name: str) -> bytes:
        """Keyed Bloom filter of the padded bigrams: "MARY ANN" → "_MARY_ANN_" → _M MA … N_."""
        memo, cache = self._gram_masks, self._blooms
        out = cache.get(name)
        if out is None:
            padded = "_" + name.replace(" ", "_") + "_"
            bits = 0
            for i in range(len(padded) - 1):
                gram = padded[i : i + 2]
                mask = memo.get(gram)
                if mask is None:
                    digest = hmac.digest(self._secret, b"bloom\x1f" + gram.encode(), "sha256")
                    pos = np.frombuffer(digest, dtype=">u2")[:BLOOM_K] % BLOOM_BITS
                    mask = memo[gram] = sum(1 << int(p) for p in set(pos.tolist()))
                bits |= mask
            out = cache[name] = bits.to_bytes(BLOOM_BYTES, "big")
        return out


def dice(a: bytes | None, b: bytes | None) -> float | None:
    """Dice coefficient of two Bloom filters, 2|A∩B| / (|A|+|B|), as Splink computes it."""
    if a is None or b is None:
        return None
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    total = x.bit_count() + y.bit_count()
    return 2 * (x & y).bit_count() / total if total else 0.0


@cache
def nickname_table() -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """(by sex {"M": {variant: canonical}, "F": …}, variants whose canonical is the same for both).

    Read from placelink/data/nicknames.csv (curated here; the PyPI `nicknames` package was
    considered but is English-only and many-to-many, e.g. BILL → ROBERT or WILLIAM, so it gives
    no single canonical name).
    """
    by_sex: dict[str, dict[str, str]] = {"M": {}, "F": {}}
    text = resources.files("placelink").joinpath("data/nicknames.csv").read_text("utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    for row in rows:
        canonical, sex = row["canonical"].strip(), row["sex"].strip()
        for variant in row["variants"].split():
            for s in (sex,) if sex else ("M", "F"):
                known = by_sex[s].setdefault(variant, canonical)
                if known != canonical:
                    raise ValueError(f"nicknames.csv: {variant} ({s}) is {known} and {canonical}")
    either: dict[str, str] = {}
    for s, table in by_sex.items():
        other = by_sex["F" if s == "M" else "M"]
        for variant, canonical in table.items():
            if other.get(variant, canonical) == canonical:
                either[variant] = canonical
    return by_sex, either


def canonical_given_name(name: str, sex: str | None = None) -> str:
    """Each part of a standardised given name mapped to its canonical form (BILL → WILLIAM).

    The record's sex picks between e.g. ALEX → ALEXANDER or ALEXANDRA; without it (or when the
    sex disagrees with the only entry, as with a miscoded sex) only unambiguous variants map.
    """
    by_sex, either = nickname_table()
    table = by_sex.get(sex or "", {})
    return " ".join(table.get(p) or either.get(p) or p for p in name.split())


def _phonetic(name: str) -> str | None:
    """Metaphone of the name without spaces: it merges SMITH/SMYTH, CATHERINE/KATHRYN and
    ALEKSANDRA/ALEXANDRA, which NYSIIS keeps apart."""
    return jellyfish.metaphone(name.replace(" ", "")) or None


# --- encode_identities -----------------------------------------------------------------------


def encode_identities(table: pd.DataFrame, key: LinkageKey) -> pd.DataFrame:
    """Keyed encodings of the standardised identity columns, one row per input row.

    Input: any of nhs_number, ni_number, given_name, family_name, date_of_birth, sex, postcode
    (standardised as in docs/architecture.md; absent means all null). Output: exactly
    OUTPUT_COLUMNS with OUTPUT_DTYPES and the input's index, so the caller attaches record_id
    and the non-identifying attributes; no plaintext identifier is carried.
    """
    return IdentityEncoder(key)(table)


class IdentityEncoder:
    """`encode_identities` batch after batch under one key, each distinct value hashed once
    across all the batches (a person recurs month after month)."""

    def __init__(self, key: LinkageKey) -> None:
        self._tok = _Tokens(key.secret)

    def __call__(self, table: pd.DataFrame) -> pd.DataFrame:
        tok, n = self._tok, len(table)

        def column(name: str) -> _Distinct:
            if name not in table.columns:
                return _Distinct.of(pa.nulls(n, pa.string()))
            return _Distinct.of(_arrow_strings(table[name]))

        out: dict[str, pa.Array] = {}
        out["nhs_token"] = column("nhs_number").map(tok("nhs"))
        out["ni_token"] = column("ni_number").map(tok("ni"))
        sex = _arrow_strings(table["sex"]) if "sex" in table.columns else pa.nulls(n, pa.string())
        for part in ("given", "family"):
            out.update(_encode_name(part, column(f"{part}_name"), sex, tok))
        out.update(_encode_dob(table.get("date_of_birth"), n, tok))
        out.update(_encode_postcode(column("postcode"), tok))
        return pd.DataFrame(
            {name: _series(out[name], table.index, OUTPUT_DTYPES[name]) for name in OUTPUT_COLUMNS},
            index=table.index,
        )


@dataclass(frozen=True)
class _Distinct:
    """A column as its distinct non-null values and, per row, an index into them (null: null)."""

    values: list
    indices: pa.Array

    @classmethod
    def of(cls, arr: pa.Array) -> _Distinct:
        encoded = pc.dictionary_encode(arr)
        return cls(encoded.dictionary.to_pylist(), encoded.indices)

    def rows(self, distinct: list, type_: pa.DataType = TOKEN_TYPE) -> pa.Array:
        """Per-distinct results (in the order of `values`) taken back to rows."""
        return pa.array(distinct, type=type_).take(self.indices)

    def map(self, fn: Callable, type_: pa.DataType = TOKEN_TYPE) -> pa.Array:
        return self.rows([fn(v) for v in self.values], type_)

    def codes(self) -> np.ndarray:
        """The indices as int64, -1 for null."""
        return pc.fill_null(self.indices, -1).to_numpy().astype(np.int64)


def _encode_name(part: str, names: _Distinct, sex: pa.Array, tok: _Tokens) -> dict[str, pa.Array]:
    name_tok, phon_tok, part_tok = tok("name"), tok("name_phonetic"), tok("name_part")
    phonetic = [_phonetic(u) for u in names.values]
    out = {
        f"{part}_token": names.map(lambda u: name_tok(u.replace(" ", ""))),
        f"{part}_phonetic_token": names.rows([p and phon_tok(p) for p in phonetic]),
        f"{part}_bloom": names.map(tok.bloom, BLOOM_TYPE),
    }
    if part == "family":
        out["family_part_tokens"] = names.map(
            lambda u: list(dict.fromkeys(part_tok(p) for p in u.split())), PARTS_TYPE
        )
        return out
    out["given_first_token"] = names.map(lambda u: part_tok(u.split(" ", 1)[0]))
    # The canonical form depends on (name, sex): hash each distinct pair once.
    sex_code = pc.fill_null(pc.index_in(sex, value_set=pa.array(["M", "F"])), -1).to_numpy() + 1
    codes = names.codes()
    pair = np.where(codes < 0, -1, codes * 3 + sex_code)
    pair_codes, pairs = pd.factorize(pair, use_na_sentinel=False)
    canon_tok, sexes = tok("name_canon"), (None, "M", "F")
    canon = [
        None
        if p < 0
        else canon_tok(canonical_given_name(names.values[p // 3], sexes[p % 3]).replace(" ", ""))
        for p in pairs.tolist()
    ]
    out["given_canon_token"] = pa.array(canon, type=pa.string()).take(pa.array(pair_codes))
    return out


def _encode_dob(values: pd.Series | None, n: int, tok: _Tokens) -> dict[str, pa.Array]:
    names = ("dob_token", "dob_swap_token", "dob_ym_token", "dob_md_token", "dob_yd_token",
             "birth_year_token")  # fmt: skip
    if values is None:
        return {c: pa.nulls(n, pa.string()) for c in names}
    if values.dtype != DATE:
        values, _ = standardise_date(values, "%Y-%m-%d")  # strings or datetimes: ISO dates
    encoded = pc.dictionary_encode(values.array._pa_array.combine_chunks())
    d = encoded.dictionary.cast(pa.int32()).to_numpy().astype("datetime64[D]")
    year = d.astype("datetime64[Y]").astype(np.int64) + 1970
    month = (d.astype("datetime64[M]") - d.astype("datetime64[Y]")).astype(np.int64) + 1
    day = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    ymd = list(zip(year.tolist(), month.tolist(), day.tolist(), strict=True))
    dob = tok("dob")
    distinct = {
        "dob_token": [dob(f"{y:04d}-{m:02d}-{dd:02d}") for y, m, dd in ymd],
        # Same domain as dob_token: one record's swap token equals the other's dob token.
        "dob_swap_token": [
            dob(f"{y:04d}-{dd:02d}-{m:02d}") if dd <= 12 and dd != m else None for y, m, dd in ymd
        ],
    }
    # A part of the date is shared by many dates: hash each distinct part once.
    for column, domain, key, text in (
        ("dob_ym_token", "dob_ym", year * 100 + month, lambda k: f"{k // 100:04d}-{k % 100:02d}"),
        ("dob_md_token", "dob_md", month * 100 + day, lambda k: f"{k // 100:02d}-{k % 100:02d}"),
        ("dob_yd_token", "dob_yd", year * 100 + day, lambda k: f"{k // 100:04d}-{k % 100:02d}"),
        ("birth_year_token", "birth_year", year, lambda k: f"{k:04d}"),
    ):
        parts, inverse = np.unique(key, return_inverse=True)
        fn = tok(domain)
        hashed = pa.array([fn(text(k)) for k in parts.tolist()], type=pa.string())
        distinct[column] = hashed.take(pa.array(inverse))
    return {
        c: (v if isinstance(v, pa.Array) else pa.array(v, type=pa.string())).take(encoded.indices)
        for c, v in distinct.items()
    }


def _encode_postcode(postcodes: _Distinct, tok: _Tokens) -> dict[str, pa.Array]:
    full, sector = tok("postcode"), tok("postcode_sector")
    # A district alone has no full postcode and no sector.
    spaced = [u if " " in u else None for u in postcodes.values]
    return {
        "postcode_token": postcodes.rows([u and full(u) for u in spaced]),
        "postcode_sector_token": postcodes.rows(
            [u and sector(u[: u.index(" ") + 2]) for u in spaced]
        ),
    }
