"""The naive baseline the benchmarks measure against: one keyed hash per field per record.

The same SipHash-2-4 tokens, HMAC-SHA256 record pseudonyms and keyed Bloom filters as
placelink.encode, computed afresh for every value with no reuse of distinct values, as a
straightforward implementation would: a token is one call of placelink.encode.siphash_tokens
on one value (pandas' SipHash has no per-value entry point).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import date
from functools import cache

import jellyfish

from placelink.encode import (
    BLOOM_BITS,
    BLOOM_BYTES,
    BLOOM_K,
    SEP,
    canonical_given_name,
    siphash_tokens,
    token_field_key,
)


def naive_hmac(secret: bytes, domain: str, value: str | None) -> str | None:
    """A record pseudonym: HMAC-SHA256 of domain and value."""
    if value is None:
        return None
    return hmac.new(secret, f"{domain}{SEP}{value}".encode(), hashlib.sha256).hexdigest()[:32]


def naive_token(secret: bytes, domain: str, value: str | None) -> str | None:
    """An encoding's token: SipHash-2-4 under the field's key derived from the provider's."""
    if value is None:
        return None
    return siphash_tokens(_field_key(secret, domain), [value])[0].as_py()


_field_key = cache(token_field_key)
"""Derived once per key and field, as any implementation would: the naive part is per-value
work."""


def naive_bloom(secret: bytes, name: str | None, salt: str = "") -> bytes | None:
    """The bigrams' keyed positions, then the salt's keyed permutation of the bits."""
    if name is None:
        return None
    padded = "_" + name.replace(" ", "_") + "_"
    bits = [False] * BLOOM_BITS
    for i in range(len(padded) - 1):
        digest = hmac.digest(secret, f"bloom{SEP}{padded[i : i + 2]}".encode(), "sha256")
        for j in range(BLOOM_K):
            bits[int.from_bytes(digest[2 * j : 2 * j + 2], "big") % BLOOM_BITS] = True
    seed = hmac.digest(secret, f"bloom_permutation{SEP}{salt}".encode(), "sha256")
    stream = hashlib.shake_256(seed).digest(2 * BLOOM_BITS)
    keys = [int.from_bytes(stream[2 * i : 2 * i + 2], "big") for i in range(BLOOM_BITS)]
    order = sorted(range(BLOOM_BITS), key=lambda i: (keys[i], i))
    value = 0
    for position in order:
        value = (value << 1) | bits[position]
    return value.to_bytes(BLOOM_BYTES, "big")


def naive_encode(secret: bytes, row: dict) -> dict:
    """Every encoding of one standardised record (placelink.encode.OUTPUT_COLUMNS), per field."""

    def tok(domain: str, *parts: str | None) -> str | None:
        if any(p is None for p in parts):
            return None
        return naive_token(secret, domain, SEP.join(parts))

    given, family, dob = row["given_name"], row["family_name"], row["date_of_birth"]
    postcode, salt = row["postcode"], dob.isoformat() if isinstance(dob, date) else ""
    canon = given and canonical_given_name(given, row["sex"]).replace(" ", "")
    flat = family and family.replace(" ", "")
    sounds = [n and (jellyfish.metaphone(n.replace(" ", "")) or None) for n in (given, family)]

    def edits(name: str | None) -> list[str] | None:
        if name is None:
            return None
        flat = name.replace(" ", "")
        variants = {flat, *(flat[:i] + flat[i + 1 :] for i in range(len(flat)))}
        return sorted(tok("name_edit", salt, v) for v in variants)

    out = {
        "nhs_token": tok("nhs", row["nhs_number"]),
        "ni_token": tok("ni", row["ni_number"]),
        "ni_masked_tokens": [tok("ni_masked", ni[:i] + "*" + ni[i + 1 :]) for i in range(len(ni))]
        if (ni := row["ni_number"])
        else None,
        "given_token": tok("name", salt, given and given.replace(" ", "")),
        "given_canon_token": tok("name_canon", salt, canon),
        "given_phonetic_token": tok("name_phonetic", salt, sounds[0]),
        "given_bloom": naive_bloom(secret, given, salt),
        "given_edit_tokens": edits(given),
        "family_token": tok("name", salt, flat),
        "family_phonetic_token": tok("name_phonetic", salt, sounds[1]),
        "family_part_tokens": list(
            dict.fromkeys(tok("name_part", salt, p) for p in (family or "").split()[:4])
        ),
        "family_bloom": naive_bloom(secret, family, salt),
        "family_edit_tokens": edits(family),
        "given_pc_token": tok("name_pc", canon, postcode if postcode and " " in postcode else None),
        "family_pc_token": tok("name_pc", flat, postcode if postcode and " " in postcode else None),
        "family_sex_token": tok("family_sex", flat, salt or None, row["sex"]),
        "postcode_token": tok("postcode", postcode if postcode and " " in postcode else None),
        "postcode_sector_token": tok(
            "postcode_sector",
            postcode[: postcode.index(" ") + 2] if postcode and " " in postcode else None,
        ),
        "postcode_district_token": tok("postcode_district", postcode and postcode.split()[0]),
    }
    if isinstance(dob, date):
        y, m, d = f"{dob.year:04d}", f"{dob.month:02d}", f"{dob.day:02d}"
        out["dob_token"] = tok("dob", f"{y}-{m}-{d}")
        out["dob_swap_token"] = tok("dob", f"{y}-{d}-{m}") if int(d) <= 12 and d != m else None
        names = {"name": (canon, flat), "given": (canon,), "family": (flat,),
                 "sound": tuple(sounds)}  # fmt: skip
        parts = {"ym": (y, m), "md": (m, d), "yd": (y, d), "year": (y,)}
        for who, name in names.items():
            for part, values in parts.items():
                if who == "name" and part == "year":  # the names as written
                    name = (given and given.replace(" ", ""), flat)
                if who == "name" or part != "year":
                    out[f"{who}_{part}_token"] = tok(f"{who}_{part}", *name, *values)
    return out
