"""Keyed encodings of identities: the only form in which identifiers leave the secure zone.

Every encoding is keyed by the linkage key, so a person without the key cannot test a guessed
name or date against the tokens (a dictionary attack on unkeyed hashes of dates of birth takes
seconds): a token is SipHash-2-4 (a pseudorandom function made for short messages) under its
field's own key, a Bloom filter's bit positions and permutations are HMAC-SHA256, and so is a
record pseudonym. Each field has its own domain, except that given and family names share
theirs (``name``, ``name_phonetic``, ``name_part`` and the Bloom bigram positions): that lets
linkage compare a record's given name with another's family name and so catch the given/family
swaps the extracts contain (DESIGN.md section 8).

Speed: every token is computed once per *distinct* value in the batch (for a salted name, per
distinct date of birth and name) and mapped back to rows by Arrow dictionary indices and
``take``, so Python sees only the distinct values, and the tokens are hashed a whole array at a
time in C; Bloom filters hash each distinct bigram and each distinct date of birth once and are
assembled for all names at once in NumPy. The salting costs most of the speed the unsalted
design had (docs/benchmarks.md): it is the price of encodings whose frequencies say nothing.
"""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import hmac
import os
import secrets
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache, cached_property, partial
from importlib import resources
from pathlib import Path
from typing import Final

import duckdb
import jellyfish
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from placelink.errors import ConfigError
from placelink.settings import Settings
from placelink.standardise import DATE, STRING, _arrow_strings, _series, standardise_date

MIN_KEY_BYTES: Final = 32
TOKEN_HEX: Final = 16
"""A token's hex digits: SipHash-2-4's 64 bits, of which linkage compares 60 (predict.token_number):
two of a region's profiles share a token by chance about once in 10^18 pairs."""
PSEUDONYM_HEX: Final = 32  # a record pseudonym's 128 bits: unique among even 10^9 records
FINGERPRINT_MESSAGE: Final = b"placelink-fingerprint"
KEY_FINGERPRINT: Final = "placelink:key_fingerprint"
"""Schema metadata of every encoded and content file: which key made it, so a mix is refused."""
TOKEN_SCHEME: Final = "placelink:token_scheme"
TOKENS: Final = "siphash-2-4"
"""Every encoded file's TOKEN_SCHEME: tokens of two schemes never agree, so a mix is refused."""
RECORD_KEY_MESSAGE: Final = b"placelink-record-key"
TOKEN_KEY_MESSAGE: Final = b"placelink-token-key"
"""The token key is HMAC-SHA256(key, this), apart from the key's other uses; a field's SipHash
key is the first 16 bytes of HMAC-SHA256(token key, its domain)."""
PSEUDONYM_SLICE: Final = 65_536  # record ids pseudonymised together
MAX_PARTS: Final = 4  # parts of a family name kept as tokens (double-barrelled and more)
SEP: Final = "\x1f"  # joins a salt or a domain to a value: never inside a standardised one

BLOOM_BITS: Final = 512
BLOOM_BYTES: Final = BLOOM_BITS // 8
BLOOM_K: Final = 8
BLOOM_BATCH: Final = 16_384  # filters permuted together: 16k x 512 bools and int64 positions
"""Bloom filter size and bits per bigram.

A padded name has about 7 bigrams (20 for a long double-barrelled one). With k = 8 of m = 512
bits, 56 bits are set (160 for the long name): 10% to 27% of the filter, so two unrelated
names share few bits by chance (Dice about 0.1) while a one-letter typo in a 7-letter name,
which changes 2 of 8 bigrams, keeps Dice near 0.75. Several bits per bigram mean no single
chance collision decides agreement; 64 bytes keep each filter one cache line for DuckDB's
``bit_count``. Positions come from a keyed HMAC of the bigram, not double hashing, and are then
permuted by a keyed permutation of the date of birth, so the filters cannot be rebuilt without
the key and share no bit meaning across dates of birth.
"""

OUTPUT_COLUMNS: Final = (
    "nhs_token",
    "ni_token",
    "ni_masked_tokens",
    "given_token",
    "given_canon_token",
    "given_phonetic_token",
    "given_bloom",
    "given_edit_tokens",
    "family_token",
    "family_phonetic_token",
    "family_part_tokens",
    "family_bloom",
    "family_edit_tokens",
    "dob_token",
    "dob_swap_token",
    "name_ym_token",
    "name_md_token",
    "name_yd_token",
    "name_year_token",
    "given_ym_token",
    "given_md_token",
    "given_yd_token",
    "family_ym_token",
    "family_md_token",
    "family_yd_token",
    "sound_ym_token",
    "sound_md_token",
    "sound_yd_token",
    "given_pc_token",
    "family_pc_token",
    "family_sex_token",
    "postcode_token",
    "postcode_sector_token",
    "postcode_district_token",
)
"""The linkage zone's encodings, hardened against the published attacks (docs/privacy.md).

- Every name encoding (tokens and Bloom filters) is salted with the record's date of birth, so
  "JOHN" born on 1980-03-04 and "JOHN" born on any other day share nothing: a token is as common
  as the person's records, not as the name, and a Bloom filter's bit positions differ from one
  date of birth to the next, which defeats frequency alignment and bit-pattern mining alike.
- The date of birth is kept whole (dob_token and its day/month swap). No partial-date token
  stands alone: year, year-month, month-day and year-day tokens together pinned every date of
  birth by their lattice. The partial dates live only inside composites with a name (the
  canonical given name and the family name together, or either alone, with two of the date's
  three parts or its year), near-unique per person, which let linkage see a date of birth with
  one wrong part for the same name, or the same date part for a name with a typo.
- Sex is never encoded alone: its token would be decoded by its two frequencies and split every
  other frequency by sex for the attacker. It is kept only inside a composite with the family
  name and the whole date of birth (family_sex_token), as near-unique per person as the family
  token, which says only whether two records of one family name and date of birth agree on sex
  (OLIVER and OLIVIA HALL, born the same day at different addresses, are two people).
"""

TOKEN_COLUMNS: Final = tuple(c for c in OUTPUT_COLUMNS if c.endswith("_token"))
TOKEN_TYPE: Final = pa.string()
BLOOM_TYPE: Final = pa.binary(BLOOM_BYTES)
PARTS_TYPE: Final = pa.list_(pa.string())
OUTPUT_DTYPES: Final = {
    **{c: STRING for c in TOKEN_COLUMNS},
    "given_bloom": pd.ArrowDtype(BLOOM_TYPE),
    "family_bloom": pd.ArrowDtype(BLOOM_TYPE),
    "family_part_tokens": pd.ArrowDtype(PARTS_TYPE),
    "given_edit_tokens": pd.ArrowDtype(PARTS_TYPE),
    "family_edit_tokens": pd.ArrowDtype(PARTS_TYPE),
    "ni_masked_tokens": pd.ArrowDtype(PARTS_TYPE),
}
LIST_COLUMNS: Final = tuple(c for c, t in OUTPUT_DTYPES.items() if t == pd.ArrowDtype(PARTS_TYPE))
ENCODINGS_SCHEMA: Final = pa.schema(
    [
        (c, t.pyarrow_dtype if isinstance(t := OUTPUT_DTYPES[c], pd.ArrowDtype) else TOKEN_TYPE)
        for c in OUTPUT_COLUMNS
    ]
)
"""The encodings' Arrow types, as the encoded files hold them."""

IDENTITY_KEY: Final = "identity_key"
IDENTITY_KEY_SQL: Final = "md5(concat_ws('|', {}))".format(
    ", ".join(
        f"coalesce(array_to_string(\"{c}\", ','), '~')"
        if c in LIST_COLUMNS
        else f"coalesce(cast(\"{c}\" as varchar), '~')"
        for c in OUTPUT_COLUMNS
        if not c.endswith("_bloom")
    )
)
"""A record's identity key: the md5 of its encodings but the Bloom filters (made from the same
names), so records of one encoded identity share it; linkage makes one profile of them. The
pseudonymise step writes it beside the encodings, so linkage need not read them all for it."""


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
    """The provider's key from PLACELINK_SECRET, else PLACELINK_SECRET_FILE, else secure/key.

    Nothing here creates a key: `placelink init` does, once (`init_keys`), so a step run on the
    wrong home, or by a role that should hold no key, stops rather than silently making a new
    key whose tokens link to nothing. Errors name the variable or file, never the value.
    """
    return _load(settings, settings.secret, settings.secret_file, settings.secure / "key",
                 "PLACELINK_SECRET")  # fmt: skip


def load_release_key(settings: Settings) -> LinkageKey:
    """The analytics role's release key (PLACELINK_RELEASE_KEY[_FILE], else warehouse/release_key).

    It derives the person ids analysts see: two projects given different release keys cannot
    join their extracts, and one project's ids stay stable from release to release.
    """
    return _load(
        settings,
        settings.release_key,
        settings.release_key_file,
        settings.release_key_path,
        "PLACELINK_RELEASE_KEY",
    )


def _load(
    settings: Settings, secret: str | None, secret_file: Path | None, default: Path, variable: str
) -> LinkageKey:
    if secret:
        return LinkageKey(_decode_key(secret, variable), False, variable)
    if secret_file is not None:
        what = f"{variable}_FILE {secret_file}"
        return LinkageKey(_decode_key(_read_key_file(Path(secret_file), what), what), False, what)
    if settings.env == "production":
        raise ConfigError(
            f"PLACELINK_ENV=production needs a key: set {variable} or {variable}_FILE"
        )
    if not default.exists():
        raise ConfigError(
            f"no key: set {variable} or {variable}_FILE, or run `placelink init` to make {default}"
        )
    what = f"key file {default}"
    return LinkageKey(_decode_key(_read_key_file(default, what), what), False, what)


def init_keys(settings: Settings) -> list[LinkageKey]:
    """Make the provider key (secure/key) and the release key, each only where none is set.

    Production refuses: its keys come from PLACELINK_SECRET and PLACELINK_RELEASE_KEY (or their
    _FILE forms), managed outside placelink, never from a file made on the fly.
    """
    made = []
    for given, path in (
        (settings.secret or settings.secret_file, settings.secure / "key"),
        (settings.release_key or settings.release_key_file, settings.release_key_path),
    ):
        if given or path.exists():
            continue
        if settings.env == "production":
            raise ConfigError(
                "PLACELINK_ENV=production makes no keys: set PLACELINK_SECRET and "
                "PLACELINK_RELEASE_KEY (or their _FILE forms)"
            )
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        text = secrets.token_hex(MIN_KEY_BYTES)
        if _create_exclusive(path, text + "\n"):
            made.append(LinkageKey(bytes.fromhex(text), True, str(path)))
    return made


def _create_exclusive(path: Path, text: str) -> bool:
    """Write `text` to `path` (mode 0600) unless it exists; False when another process's is kept.

    The key is written and synced under a temporary name, then hard-linked into place: the link
    fails if `path` exists, so two processes at once cannot both make a key, and a reader (a step
    loading the key) sees a whole key or none, never an empty file being written.
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:  # another process made it first: keep theirs
            return False
        return True
    finally:
        os.unlink(tmp)


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


def _hmac_fn(secret: bytes, domain: str) -> Callable[[str], str]:
    """HMAC-SHA256(secret, domain 0x1F value) as PSEUDONYM_HEX hex digits, from the inner and outer
    hash states after the padded keys (RFC 2104): identical to hmac.new(...), about twice as
    fast per value."""
    if len(secret) > 64:
        secret = hashlib.sha256(secret).digest()
    padded = secret.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in padded) + domain.encode("ascii") + b"\x1f")
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in padded))

    def fn(value: str) -> str:
        i = inner.copy()
        i.update(value.encode("utf-8"))
        o = outer.copy()
        o.update(i.digest())
        return o.hexdigest()[:PSEUDONYM_HEX]

    return fn


_HEX_DIGITS: Final = np.array([f"{b:02x}".encode() for b in range(256)], "S2").view(np.uint16)
"""Each byte's two hex digits, as one uint16 to index with a whole array of bytes."""

Token = Callable[[pa.Array | Sequence[str | None]], pa.Array]
"""A field's token function: the tokens of an array of values, null where a value is null."""


def token_field_key(secret: bytes, domain: str) -> bytes:
    """A field's SipHash key: the first 16 bytes of HMAC-SHA256(token key, its domain), the
    token key HMAC-SHA256(key, TOKEN_KEY_MESSAGE). A key per field keeps the fields apart
    without a prefix on every value."""
    token_key = hmac.digest(secret, TOKEN_KEY_MESSAGE, "sha256")
    return hmac.digest(token_key, domain.encode("ascii"), "sha256")[:16]


def siphash_tokens(key: bytes, values: pa.Array | Sequence[str | None]) -> pa.Array:
    """SipHash-2-4 of each value's UTF-8 under a 16-byte key, as TOKEN_HEX hex digits.

    pandas.util.hash_array computes SipHash-2-4 in C over an array of values (then a fixed
    bijection of the 64 bits, splitmix64's finaliser), a quarter of the CPU of one Python hash
    call a value. It takes the key as text in the values' encoding, so the values go in as
    bytes and the key as Latin-1, which spells any 16 bytes. tests/unit/test_encode.py holds
    it to the SipHash paper's test vector."""
    if not isinstance(values, pa.Array):
        values = pa.array(values, pa.string())
    messages = values.cast(pa.binary()).to_numpy(zero_copy_only=False)
    numbers = pd.util.hash_array(
        messages, encoding="latin-1", hash_key=key.decode("latin-1"), categorize=False
    )
    digits = _HEX_DIGITS[numbers.astype(">u8").view(np.uint8)]
    tokens = pa.FixedSizeBinaryArray.from_buffers(
        pa.binary(TOKEN_HEX), len(values), [None, pa.py_buffer(digits)]
    ).cast(TOKEN_TYPE)
    if values.null_count:
        return pc.if_else(pc.is_valid(values), tokens, pa.scalar(None, TOKEN_TYPE))
    return tokens


class _Tokens:
    """Keyed token functions per domain, and Bloom filters from cached bigram positions and
    permutations. Tokens are not memoised: the pseudonymise step encodes each distinct identity
    once, so a memo of every salted value would cost more memory than the hashes it saves."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret
        self._fns: dict[str, Token] = {}
        self._gram_positions: dict[str, np.ndarray] = {}
        self._blooms: dict[str, np.ndarray] = {}  # name → its unpermuted set positions
        self._salt_rows: dict[str, int] = {}  # salt → its row of _destinations
        self._destinations = np.empty((0, BLOOM_BITS), dtype=np.int16)

    def __call__(self, domain: str) -> Token:
        fn = self._fns.get(domain)
        if fn is None:
            fn = self._fns[domain] = partial(siphash_tokens, token_field_key(self._secret, domain))
        return fn

    def blooms(self, salted: list[str]) -> pa.Array:
        """Keyed Bloom filters of salted names ("<salt> 0x1F <name>"), one per value.

        A name's filter sets, for each padded bigram ("MARY ANN" → "_MARY_ANN_" → _M MA … N_),
        BLOOM_K positions from a keyed HMAC of the bigram; the filter's bits are then permuted
        by a keyed permutation of the salt (the date of birth). So the same name under another
        date of birth sets other bits, and no bit means the same bigram from one date of birth
        to the next, which is what pattern mining needs. Both the bigrams' positions and the
        permutations are computed once each and applied to all the filters at once in NumPy.
        """
        out = np.zeros((len(salted), BLOOM_BYTES), dtype=np.uint8)
        for start in range(0, len(salted), BLOOM_BATCH):
            pairs = [v.split(SEP, 1) for v in salted[start : start + BLOOM_BATCH]]
            salts, names = [p[0] for p in pairs], [p[1] for p in pairs]
            name_codes, distinct_names = pd.factorize(pd.Series(names, dtype=object))
            salt_codes, distinct_salts = pd.factorize(pd.Series(salts, dtype=object))
            # Each name's set positions (padded with its first), moved where its salt sends them.
            positions = _padded([self._name_positions(name) for name in distinct_names])
            salt_rows = np.array([self._salt_row(salt) for salt in distinct_salts], dtype=np.intp)
            moved = self._destinations[salt_rows[salt_codes][:, None], positions[name_codes]]
            bits = np.zeros((len(names), BLOOM_BITS), dtype=bool)
            bits[np.arange(len(names))[:, None], moved] = True
            out[start : start + len(names)] = np.packbits(bits, axis=1)
        return pa.FixedSizeBinaryArray.from_buffers(
            BLOOM_TYPE, len(salted), [None, pa.py_buffer(out.tobytes())]
        )

    def _name_positions(self, name: str) -> np.ndarray:
        """The distinct bit positions a name's bigrams set, before any permutation."""
        positions = self._blooms.get(name)
        if positions is None:
            padded = "_" + name.replace(" ", "_") + "_"
            grams = [self._gram_positions_of(padded[i : i + 2]) for i in range(len(padded) - 1)]
            positions = self._blooms[name] = np.unique(np.concatenate(grams))
        return positions

    def _gram_positions_of(self, gram: str) -> np.ndarray:
        positions = self._gram_positions.get(gram)
        if positions is None:
            digest = hmac.digest(self._secret, f"bloom{SEP}{gram}".encode(), "sha256")
            positions = np.frombuffer(digest, dtype=">u2")[:BLOOM_K] % BLOOM_BITS
            self._gram_positions[gram] = positions = positions.astype(np.intp)
        return positions

    def _salt_row(self, salt: str) -> int:
        """The salt's row of `_destinations`: where its permutation sends each bit (bit p of a
        name lands at _destinations[row, p]), added on first sight."""
        row = self._salt_rows.get(salt)
        if row is None:
            row = self._salt_rows[salt] = len(self._salt_rows)
            if row == len(self._destinations):  # grown by doubling: a few copies in all
                grown = np.empty((max(2 * row, 1024), BLOOM_BITS), dtype=np.int16)
                grown[:row] = self._destinations
                self._destinations = grown
            self._destinations[row, bloom_permutation(self._secret, salt)] = np.arange(BLOOM_BITS)
        return row


def _padded(rows: list[np.ndarray]) -> np.ndarray:
    """Ragged rows as one matrix, each padded with its own first value (setting a bit twice
    changes nothing)."""
    width = max(len(r) for r in rows)
    out = np.empty((len(rows), width), dtype=np.intp)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
        out[i, len(row) :] = row[0]
    return out


def bloom_permutation(secret: bytes, salt: str) -> np.ndarray:
    """The keyed permutation of a salt: Bloom positions sorted by a keyed stream (SHAKE-256 of
    an HMAC of the salt), ties broken by position, so it is the same on every machine."""
    seed = hmac.digest(secret, f"bloom_permutation{SEP}{salt}".encode(), "sha256")
    keys = np.frombuffer(hashlib.shake_256(seed).digest(2 * BLOOM_BITS), dtype=">u2")
    return np.argsort(keys, kind="stable")


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


def identity_keys(encoded: pa.Table) -> pa.ChunkedArray:
    """IDENTITY_KEY_SQL of each row of encodings, as linkage would compute it from the file."""
    con = duckdb.connect()
    try:
        con.register("encoded", encoded)
        return con.sql(f"select {IDENTITY_KEY_SQL} from encoded").to_arrow_table().column(0)
    finally:
        con.close()


def file_key_fingerprint(path: Path) -> str | None:
    """The key fingerprint a pseudonymised file was written with (None: written without)."""
    return _file_metadata(path, KEY_FINGERPRINT)


def file_token_scheme(path: Path) -> str | None:
    """How an encoded file's tokens were made (TOKENS; None: by a placelink before SipHash)."""
    return _file_metadata(path, TOKEN_SCHEME)


def _file_metadata(path: Path, name: str) -> str | None:
    value = (pq.ParquetFile(path).metadata.metadata or {}).get(name.encode())
    return value.decode() if value else None


# --- record pseudonyms ----------------------------------------------------------------------


def record_pseudonyms(key: LinkageKey, source: str, record_ids: pa.Array) -> pa.Array:
    """HMAC(record key, source 0x1F record_id) for each record: the only record reference that
    leaves the provider, so a provider's own record ids are no dictionary into the linkage or
    content zones. The record key is derived from the provider's key."""
    record_key = hmac.new(key.secret, RECORD_KEY_MESSAGE, hashlib.sha256).digest()
    fn = _hmac_fn(record_key, source)
    ids = pc.cast(record_ids, pa.string())
    # A slice at a time: a source's millions of ids as Python strings, and their tokens, would
    # otherwise all be held at once (0.7 GB at 2.4 million records).
    slices = range(0, max(len(ids), 1), PSEUDONYM_SLICE)
    return pa.concat_arrays([_Distinct.of(ids.slice(at, PSEUDONYM_SLICE)).map(fn) for at in slices])


# --- encode_identities -----------------------------------------------------------------------


def encode_identities(table: pd.DataFrame, key: LinkageKey) -> pd.DataFrame:
    """Keyed encodings of the standardised identity columns, one row per input row.

    Input: any of nhs_number, ni_number, given_name, family_name, date_of_birth, sex, postcode
    (standardised as in docs/architecture.md; absent means all null). Output: exactly
    OUTPUT_COLUMNS with OUTPUT_DTYPES and the input's index, so the caller attaches the record
    pseudonym; no plaintext identifier is carried.
    """
    return IdentityEncoder(key)(table)


class IdentityEncoder:
    """`encode_identities` batch after batch under one key, the Bloom filters' bigram positions
    and permutations computed once across all the batches."""

    def __init__(self, key: LinkageKey) -> None:
        self._tok = _Tokens(key.secret)

    def __call__(self, table: pd.DataFrame) -> pd.DataFrame:
        tok, n = self._tok, len(table)

        def strings(name: str) -> pa.Array:
            if name not in table.columns:
                return pa.nulls(n, pa.string())
            return _arrow_strings(table[name])

        out: dict[str, pa.Array] = {}
        out["nhs_token"] = _Distinct.of(strings("nhs_number")).tokens(tok("nhs"))
        ni = _Distinct.of(strings("ni_number"))
        out["ni_token"] = ni.tokens(tok("ni"))
        out["ni_masked_tokens"] = _masked(ni, tok("ni_masked"))
        dob = _iso_dates(table.get("date_of_birth"), n)
        salt = pc.fill_null(dob, "")
        given, family = strings("given_name"), strings("family_name")
        canon = _canonical_given(given, strings("sex"))
        out.update(_encode_name("given", given, salt, tok, canon))
        out.update(_encode_name("family", family, salt, tok))
        out.update(_encode_dob(dob, tok))
        sound = pc.binary_join_element_wise(
            *(_Distinct.of(n).map(_phonetic, pa.string()) for n in (given, family)), SEP
        )
        postcode, sex = strings("postcode"), strings("sex")
        out.update(_encode_composites(given, canon, family, sound, dob, postcode, sex, tok))
        out.update(_encode_postcode(_Distinct.of(postcode), tok))
        return pd.DataFrame(
            {name: _series(out[name], table.index, OUTPUT_DTYPES[name]) for name in OUTPUT_COLUMNS},
            index=table.index,
        )


@dataclass(frozen=True)
class _Distinct:
    """A column as its distinct non-null values and, per row, an index into them (null: null)."""

    dictionary: pa.Array
    indices: pa.Array

    @classmethod
    def of(cls, arr: pa.Array) -> _Distinct:
        encoded = pc.dictionary_encode(arr)
        return cls(encoded.dictionary, encoded.indices)

    @cached_property
    def values(self) -> list:
        """The distinct values as Python objects, made once where a step needs them so."""
        return self.dictionary.to_pylist()

    def rows(self, distinct: list | pa.Array, type_: pa.DataType = TOKEN_TYPE) -> pa.Array:
        """Per-distinct results (in the order of `values`) taken back to rows."""
        if not isinstance(distinct, pa.Array):
            distinct = pa.array(distinct, type=type_)
        return distinct.take(self.indices)

    def map(self, fn: Callable, type_: pa.DataType = TOKEN_TYPE) -> pa.Array:
        return self.rows([fn(v) for v in self.values], type_)

    def tokens(self, token: Token) -> pa.Array:
        """Each row's token, hashed once per distinct value."""
        return self.rows(token(self.dictionary))


def _salted(salt: pa.Array, value: pa.Array) -> _Distinct:
    """Distinct "<salt> 0x1F <value>" strings (null where the value is null)."""
    return _Distinct.of(pc.binary_join_element_wise(salt, value, SEP))


def _canonical_given(given: pa.Array, sex: pa.Array) -> pa.Array:
    """Each row's canonical given name without spaces, computed once per distinct (name, sex)."""
    pairs = _Distinct.of(pc.binary_join_element_wise(pc.fill_null(sex, ""), given, SEP))
    return pairs.map(
        lambda v: canonical_given_name(v.split(SEP, 1)[1], v.split(SEP, 1)[0] or None).replace(
            " ", ""
        ),
        pa.string(),
    )


def _encode_name(
    part: str, names: pa.Array, salt: pa.Array, tok: _Tokens, canon: pa.Array | None = None
) -> dict[str, pa.Array]:
    """Tokens and Bloom filter of a name, each salted with the date of birth.

    Given and family names share their domains, so a given name can be compared with another
    record's family name (swapped names) under the same date of birth.
    """
    name_tok, phon_tok = tok("name"), tok("name_phonetic")
    # What a name becomes is computed once per distinct name, then salted row by row.
    distinct = _Distinct.of(names)
    compact = distinct.map(lambda u: u.replace(" ", ""), pa.string())
    sound = distinct.map(_phonetic, pa.string())
    salted = _salted(salt, names)
    out = {
        f"{part}_token": _salted(salt, compact).tokens(name_tok),
        f"{part}_phonetic_token": _salted(salt, sound).tokens(phon_tok),
        f"{part}_bloom": salted.rows(tok.blooms(salted.values), BLOOM_TYPE),
        f"{part}_edit_tokens": _one_edit(salted, tok("name_edit")),
    }
    if part == "family":
        out["family_part_tokens"] = _part_tokens(salted, tok("name_part"))
        return out
    out["given_canon_token"] = _salted(salt, canon).tokens(tok("name_canon"))
    return out


def _part_tokens(salted: _Distinct, token: Token) -> pa.Array:
    """Per row, the tokens of its salted name's first MAX_PARTS parts, each part once, in
    order."""
    messages: list[str] = []
    counts = np.zeros(len(salted.values), np.int64)
    for i, value in enumerate(salted.values):
        salt, name = value.split(SEP, 1)
        parts = dict.fromkeys(name.split()[:MAX_PARTS])
        messages += [salt + SEP + p for p in parts]
        counts[i] = len(parts)
    owner = np.repeat(np.arange(len(counts)), counts)
    return salted.rows(_token_lists(messages, owner, len(counts), token))


def _one_edit(salted: _Distinct, token: Token) -> pa.Array:
    """Per row, the tokens of its salted name ("<salt> 0x1F <name>") and of the name with each
    letter in turn deleted, salted, in token order (not letter order). Two names one edit apart
    (a letter missed, added or mistyped, or two letters transposed: SMIHT for SMITH, OJNES for
    JONES) share a token, where their bigrams may share only half their Bloom bits. The
    variants are made in Arrow, a letter position at a time over every name."""
    salt_and_name = pc.split_pattern(salted.dictionary, SEP, max_splits=1)
    salts = pc.list_element(salt_and_name, 0)
    names = pc.replace_substring(pc.list_element(salt_and_name, 1), " ", "")
    lengths = pc.utf8_length(names).to_numpy(zero_copy_only=False)
    owners, variants = [np.arange(len(names))], [names]
    for i in range(int(lengths.max(initial=0))):
        longer = np.flatnonzero(lengths > i)
        kept = names.take(longer)
        cut = (pc.utf8_slice_codeunits(kept, 0, i), pc.utf8_slice_codeunits(kept, i + 1))
        variants.append(pc.binary_join_element_wise(*cut, ""))
        owners.append(longer)
    # A doubled letter gives a variant twice (HALL: HAL and HAL): it is hashed once.
    distinct = (
        pa.table({"owner": np.concatenate(owners), "variant": pa.concat_arrays(variants)})
        .group_by(["owner", "variant"], use_threads=False)
        .aggregate([])
    )
    owner = distinct.column("owner").to_numpy()
    messages = pc.binary_join_element_wise(salts.take(owner), distinct.column("variant"), SEP)
    return salted.rows(_token_lists(messages, owner, len(names), token, True))


def _masked(numbers: _Distinct, token: Token) -> pa.Array:
    """Per row, the tokens of its number with each character in turn masked: two numbers one
    mistyped character apart share exactly one (an NI number has no check digit to catch it)."""
    messages = [v[:i] + "*" + v[i + 1 :] for v in numbers.values for i in range(len(v))]
    owner = np.repeat(np.arange(len(numbers.values)), [len(v) for v in numbers.values])
    return numbers.rows(_token_lists(messages, owner, len(numbers.values), token))


def _token_lists(
    messages: pa.Array | list[str],
    owner: np.ndarray,
    owners: int,
    token: Token,
    in_token_order: bool = False,
) -> pa.Array:
    """The messages' tokens as one list per owner (0 to `owners` - 1; `owner` says whose each
    message is), hashed in one pass. With `in_token_order` one Arrow sort orders every list;
    without, the messages must come grouped by owner. No Python list is made per owner."""
    tokens = token(messages)
    if in_token_order:
        keys = [("owner", "ascending"), ("token", "ascending")]
        tokens = tokens.take(pc.sort_indices(pa.table({"owner": owner, "token": tokens}), keys))
    counts = np.bincount(owner, minlength=owners)
    offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).astype(np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), tokens, type=PARTS_TYPE)


def _iso_dates(values: pd.Series | None, n: int) -> pa.Array:
    """The dates of birth as ISO strings (null where unknown)."""
    if values is None:
        return pa.nulls(n, pa.string())
    if values.dtype != DATE:
        values, _ = standardise_date(values, "%Y-%m-%d")  # strings or datetimes: ISO dates
    return pc.cast(values.array._pa_array.combine_chunks(), pa.string())


def _encode_dob(dob: pa.Array, tok: _Tokens) -> dict[str, pa.Array]:
    """The whole date of birth, and the date with day and month swapped (day ≤ 12)."""
    fn = tok("dob")
    dates = _Distinct.of(dob)

    def swapped(iso: str) -> str | None:
        y, m, d = iso.split("-")
        return f"{y}-{d}-{m}" if int(d) <= 12 and d != m else None

    swaps = dates.rows(fn([swapped(iso) for iso in dates.values]))
    return {"dob_token": dates.tokens(fn), "dob_swap_token": swaps}


def _encode_composites(
    given: pa.Array,
    canon: pa.Array,
    family: pa.Array,
    sound: pa.Array,
    dob: pa.Array,
    postcode: pa.Array,
    sex: pa.Array,
    tok: _Tokens,
) -> dict[str, pa.Array]:
    """Composites of a name with part of the date of birth, or with the full postcode: near-
    unique per person (or household), so they leak no frequency, yet they match where the date
    of birth is wrong in one part, or wrong altogether at the same address, where the names,
    salted with the date, cannot be compared. The name is the whole name (canonical given and
    family), either alone, or the two names' phonetic codes (`sound`), which also survive a
    typo in either name. The family name with the whole date of birth and sex tells two people
    of one family name born the same day apart by their sex, which the names' Dice alone may
    not (OLIVER and OLIVIA)."""
    family = pc.replace_substring(family, " ", "")
    names = {"name": pc.binary_join_element_wise(canon, family, SEP), "given": canon,
             "family": family, "sound": sound}  # fmt: skip
    # The year alone says little of the date, so with it the names must agree as written: a
    # nickname or variant (JACK for JOHN, MUHAMMAD for MOHAMMED) born the same year at one
    # address is a relative as often as the same person.
    exact_name = pc.binary_join_element_wise(pc.replace_substring(given, " ", ""), family, SEP)
    year, month, day = (pc.utf8_slice_codeunits(dob, a, b) for a, b in ((0, 4), (5, 7), (8, 10)))
    full = pc.if_else(pc.match_substring(postcode, " "), postcode, pa.scalar(None, pa.string()))
    parts = {"ym": (year, month), "md": (month, day), "yd": (year, day), "year": (year,),
             "pc": (full,), "sex": (dob, sex)}  # fmt: skip
    out = {}
    for column in OUTPUT_COLUMNS:
        who, _, rest = column.partition("_")
        part = rest.removesuffix("_token")
        if who in names and part in parts:
            name = exact_name if column == "name_year_token" else names[who]
            joined = pc.binary_join_element_wise(name, *parts[part], SEP)
            # Given and family names at a postcode share a domain, so a swap shows there too.
            domain = "name_pc" if part == "pc" else column.removesuffix("_token")
            out[column] = _Distinct.of(joined).tokens(tok(domain))
    return out


def _encode_postcode(postcodes: _Distinct, tok: _Tokens) -> dict[str, pa.Array]:
    full, sector, district = tok("postcode"), tok("postcode_sector"), tok("postcode_district")
    # A district alone has no full postcode and no sector.
    spaced = [u if " " in u else None for u in postcodes.values]
    return {
        "postcode_token": postcodes.rows(full(spaced)),
        "postcode_sector_token": postcodes.rows(
            sector([u and u[: u.index(" ") + 2] for u in spaced])
        ),
        "postcode_district_token": postcodes.rows(
            district([u.split(" ", 1)[0] for u in postcodes.values])
        ),
    }
