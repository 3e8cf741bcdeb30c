"""The naive baseline the benchmarks measure against: one keyed hash per field per record.

The same HMAC-SHA256 tokens and keyed Bloom filters as placelink.encode, computed afresh for
every value with no reuse of distinct values, as a straightforward implementation would.
"""

from __future__ import annotations

import hashlib
import hmac

from placelink.encode import BLOOM_BITS, BLOOM_BYTES, BLOOM_K


def naive_token(secret: bytes, domain: str, value: str | None) -> str | None:
    if value is None:
        return None
    return hmac.new(secret, f"{domain}\x1f{value}".encode(), hashlib.sha256).hexdigest()[:32]


def naive_bloom(secret: bytes, name: str | None) -> bytes | None:
    if name is None:
        return None
    padded = "_" + name.replace(" ", "_") + "_"
    bits = 0
    for i in range(len(padded) - 1):
        digest = hmac.digest(secret, b"bloom\x1f" + padded[i : i + 2].encode(), "sha256")
        for j in range(BLOOM_K):
            bits |= 1 << (int.from_bytes(digest[2 * j : 2 * j + 2], "big") % BLOOM_BITS)
    return bits.to_bytes(BLOOM_BYTES, "big")
