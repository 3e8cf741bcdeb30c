"""Keyed encodings of identities: the only form in which identifiers leave the secure zone.

Every encoding is a keyed HMAC-SHA256 under the linkage key, so a person without the key cannot
test a guessed name or date against the tokens (a dictionary attack on unkeyed hashes of dates
of birth takes seconds). Each field has its own domain separator, except that given and family
names share theirs (``name``, ``name_phonetic``, ``name_part`` and the Bloom bigram positions):
that lets linkage compare a record's given name with another's family name and so catch the
given/family swaps the extracts contain (DESIGN.md section 8).

Speed (DESIGN.md "Known traps"): every token is computed once per *distinct* value in the
batch and mapped back to rows by ``pd.factorize`` codes and an Arrow ``take``; Bloom filters
hash each distinct bigram once and OR precomputed bit masks per distinct name.
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

from placelink.errors import ConfigError
from placelink.settings import Settings
from placelink.standardise import DATE, STRING, _series, _strings_object, _take, standardise_date

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
    """Keyed token functions per domain, memoised: a value is hashed once per call."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._fns: dict[str, Callable[[str], str]] = {}

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

    def bloom(self, name: str, memo: dict[str, int], cache: dict[str, bytes]) -> bytes:
        """Keyed Bloom filter of the padded bigrams: "MARY ANN" → "_MARY_ANN_" → _M MA … N_."""
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
    tok = _Tokens(key.secret)
    n = len(table)
    index = table.index

    def column(name: str) -> np.ndarray:
        if name not in table.columns:
            return np.full(n, None, dtype=object)
        return _strings_object(table[name])

    out: dict[str, pa.Array] = {}
    out["nhs_token"] = _distinct(column("nhs_number"), tok("nhs"))
    out["ni_token"] = _distinct(column("ni_number"), tok("ni"))

    sex = column("sex")
    for part, values in (("given", column("given_name")), ("family", column("family_name"))):
        out.update(_encode_name(part, values, sex, tok))

    out.update(_encode_dob(table.get("date_of_birth"), n, tok))
    out.update(_encode_postcode(column("postcode"), tok))

    frame = {}
    for name in OUTPUT_COLUMNS:
        dtype = OUTPUT_DTYPES[name]
        frame[name] = _series(out[name], index, dtype)
    return pd.DataFrame(frame, index=index)


def _distinct(values: np.ndarray, fn: Callable[[str], str | None]) -> pa.Array:
    """fn over each distinct non-null value, mapped back to rows (null stays null)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return _take(pa.array([fn(u) for u in uniques], type=pa.string()), codes)


def _encode_name(
    part: str, values: np.ndarray, sex: np.ndarray, tok: _Tokens
) -> dict[str, pa.Array]:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    names: list[str] = list(uniques)
    name_tok, phon_tok, part_tok = tok("name"), tok("name_phonetic"), tok("name_part")
    phonetic = [_phonetic(u) for u in names]
    gram_masks: dict[str, int] = {}
    blooms: dict[str, bytes] = {}
    cols = {
        f"{part}_token": [name_tok(u.replace(" ", "")) for u in names],
        f"{part}_phonetic_token": [None if p is None else phon_tok(p) for p in phonetic],
        f"{part}_bloom": [tok.bloom(u, gram_masks, blooms) for u in names],
    }
    types = {f"{part}_bloom": BLOOM_TYPE}
    if part == "given":
        cols["given_first_token"] = [part_tok(u.split(" ", 1)[0]) for u in names]
        # The canonical form depends on (name, sex): factorise the distinct pairs.
        sex_code = pd.Series(sex).map({"M": 1, "F": 2}).fillna(0).to_numpy(dtype=np.int64)
        pair = np.where(codes < 0, -1, codes.astype(np.int64) * 3 + sex_code)
        pair_codes, pairs = pd.factorize(pair, use_na_sentinel=False)
        canon_tok = tok("name_canon")
        sexes = (None, "M", "F")
        canon = [
            None
            if p < 0
            else canon_tok(canonical_given_name(names[p // 3], sexes[p % 3]).replace(" ", ""))
            for p in pairs
        ]
        result = {"given_canon_token": pa.array(canon, type=pa.string()).take(pa.array(pair_codes))}
    else:
        cols["family_part_tokens"] = [
            list(dict.fromkeys(part_tok(p) for p in u.split())) for u in names
        ]
        types["family_part_tokens"] = PARTS_TYPE
        result = {}
    for name, distinct in cols.items():
        result[name] = _take(pa.array(distinct, type=types.get(name, pa.string())), codes)
    return result


def _encode_dob(values: pd.Series | None, n: int, tok: _Tokens) -> dict[str, pa.Array]:
    names = ("dob_token", "dob_swap_token", "dob_ym_token", "dob_md_token", "dob_yd_token",
             "birth_year_token")  # fmt: skip
    if values is None:
        return {c: pa.nulls(n, pa.string()) for c in names}
    if values.dtype != DATE:
        values, _ = standardise_date(values, "%Y-%m-%d")  # strings or datetimes: ISO dates
    days = values.array._pa_array.combine_chunks().cast(pa.int32())
    codes, uniques = pd.factorize(days.to_numpy(zero_copy_only=False), use_na_sentinel=True)
    uniques = np.asarray(uniques, dtype=np.float64)  # nulls came through as NaN
    d = uniques.astype(np.int64).astype("datetime64[D]")
    year = d.astype("datetime64[Y]").astype(np.int64) + 1970
    month = (d.astype("datetime64[M]") - d.astype("datetime64[Y]")).astype(np.int64) + 1
    day = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    dob, ym, md, yd, yr = tok("dob"), tok("dob_ym"), tok("dob_md"), tok("dob_yd"), tok("birth_year")
    ymd = list(zip(year.tolist(), month.tolist(), day.tolist(), strict=True))
    distinct = {
        "dob_token": [dob(f"{y:04d}-{m:02d}-{dd:02d}") for y, m, dd in ymd],
        # Same domain as dob_token: one record's swap token equals the other's dob token.
        "dob_swap_token": [
            dob(f"{y:04d}-{dd:02d}-{m:02d}") if dd <= 12 and dd != m else None for y, m, dd in ymd
        ],
        "dob_ym_token": [ym(f"{y:04d}-{m:02d}") for y, m, _ in ymd],
        "dob_md_token": [md(f"{m:02d}-{dd:02d}") for _, m, dd in ymd],
        "dob_yd_token": [yd(f"{y:04d}-{dd:02d}") for y, _, dd in ymd],
        "birth_year_token": [yr(f"{y:04d}") for y, _, _ in ymd],
    }
    return {c: _take(pa.array(v, type=pa.string()), codes) for c, v in distinct.items()}


def _encode_postcode(values: np.ndarray, tok: _Tokens) -> dict[str, pa.Array]:
    full, sector = tok("postcode"), tok("postcode_sector")

    def both(pc_: str) -> tuple[str | None, str | None]:
        if " " not in pc_:  # a district alone: no full postcode, no sector
            return None, None
        return full(pc_), sector(pc_[: pc_.index(" ") + 2])

    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    pairs = [both(u) for u in uniques]
    return {
        "postcode_token": _take(pa.array([p[0] for p in pairs], type=pa.string()), codes),
        "postcode_sector_token": _take(pa.array([p[1] for p in pairs], type=pa.string()), codes),
    }
