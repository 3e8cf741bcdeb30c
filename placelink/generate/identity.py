"""Identifier errors (DESIGN.md section 8), injected per record at rates scaled by --errors.

Values start from the person's truth as the source would have known it on the record's
"information day" (the event day less a reporting lag), so stale postcodes and pre-marriage
surnames arise from life events; then each error is applied to a random share of records.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np

from placelink.generate.people import Names, Population
from placelink.generate.place import Place
from placelink.generate.timeline import days_in_month, ymd

FACTORS = {"none": 0.0, "default": 1.0, "heavy": 3.0}


@dataclass(frozen=True)
class SourceRules:
    """What a source records and how stale its demographics run."""

    nhs_missing: float | None  # None: the source has no NHS number
    has_ni: bool
    nicknames: bool
    dob_default: bool
    lag_days: float  # mean delay before a move or marriage reaches the record


RULES = {
    "health_apc": SourceRules(0.02, False, False, False, 45.0),
    "health_ecds": SourceRules(0.02, False, False, False, 45.0),
    "social_care": SourceRules(0.10, False, True, False, 0.0),
    "housing": SourceRules(0.60, True, True, True, 20.0),
    "benefits": SourceRules(None, True, True, True, 30.0),
}
DUPLICATE_RATE = 0.03  # the same person registered twice: social care, housing

_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_NOT_DECOMPOSABLE = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss"})


@dataclass
class Identity:
    """Identity fields for a batch of records, before source-specific formatting."""

    given: np.ndarray
    family: np.ndarray
    year: np.ndarray
    month: np.ndarray
    day: np.ndarray
    sex: np.ndarray  # 0 male, 1 female, -1 missing
    postcode: np.ndarray  # object, None when missing
    nhs: np.ndarray | None
    ni: np.ndarray | None


def information_day(rng, day: np.ndarray, source: str, factor: float) -> np.ndarray:
    lag = RULES[source].lag_days * factor
    if lag <= 0:
        return day
    return day - rng.exponential(lag, len(day)).astype(np.int64)


def _mask(rng, n: int, rate: float, factor: float) -> np.ndarray:
    return rng.random(n) < min(1.0, rate * factor)


def _typo(s: str, r: np.ndarray) -> str:
    if len(s) < 3:
        return s
    i = int(r[0] * len(s))
    c = _LETTERS[int(r[2] * 26)]
    if s[i].isupper():
        c = c.upper()
    op = int(r[1] * 4)
    if op == 0:
        return s[:i] + c + s[i:]
    if op == 1:
        return s[:i] + s[i + 1 :]
    if op == 2:
        return s[:i] + c + s[i + 1 :]
    i = min(i, len(s) - 2)
    return s[:i] + s[i + 1] + s[i] + s[i + 2 :]


def strip_accents(s: str) -> str:
    decomposed = unicodedata.normalize("NFKD", s.translate(_NOT_DECOMPOSABLE))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_TITLES = (("Mr", "Dr"), ("Mrs", "Ms", "Miss", "Dr"))


def _format_noise(given: str, family: str, sex: int, r: np.ndarray) -> tuple[str, str]:
    """Case, accents, titles, spaces and punctuation as typed at a front desk."""
    op = int(r[0] * 7)
    accented = not (given + family).isascii()
    if op in (2, 3) and not accented:
        op = 0
    if op == 0:
        return given.upper(), family.upper()
    if op == 1:
        return given.lower(), family.lower()
    if op == 2:
        return strip_accents(given), strip_accents(family)
    if op == 3:
        return (
            given.encode("utf-8").decode("cp1252", errors="replace"),
            family.encode("utf-8").decode("cp1252", errors="replace"),
        )
    if op == 4:
        titles = _TITLES[max(sex, 0)]
        return f"{titles[int(r[1] * len(titles))]} {given}", family
    if op == 5:
        if "'" in family or "-" in family:
            return given, family.replace("'", "" if r[1] < 0.5 else " ").replace("-", " ")
        return given + ".", family
    return f" {given}", f"{family}  "


def _apply(values: np.ndarray, mask: np.ndarray, fn) -> None:
    idx = np.flatnonzero(mask)
    if len(idx):
        values[idx] = [fn(v, k) for k, v in enumerate(values[idx].tolist())]


def _variant(table: dict[str, list[str]], r: np.ndarray):
    def pick(name: str, k: int) -> str:
        options = table.get(name)
        return options[int(r[k] * len(options))] if options else name

    return pick


def make_identity(
    rng,
    pop: Population,
    names: Names,
    place: Place,
    pid: np.ndarray,
    info_day: np.ndarray,
    source: str,
    factor: float,
) -> Identity:
    """True identity on `info_day`, then the section 8 errors for `source`."""
    rules = RULES[source]
    n = len(pid)
    given = names.given[pop.given[pid]].copy()
    family = names.family[pop.family_at(pid, info_day)].copy()

    # double-barrelled names cut to one part
    cut = _mask(rng, n, 0.3, factor) & np.array(["-" in f for f in family.tolist()], dtype=bool)
    r = rng.random(n)
    _apply(family, cut, lambda f, k, rr=r[cut]: _cut(f, rr[k]))
    # spelling or transliteration variants, of the given name or else the family name
    var = _mask(rng, n, 0.03, factor)
    r = rng.random(n)[var]
    idx = np.flatnonzero(var)
    for k, i in enumerate(idx.tolist()):
        g, f = given[i], family[i]
        if g in names.spelling:
            given[i] = _variant(names.spelling, r)(g, k)
        elif f in names.spelling:
            family[i] = _variant(names.spelling, r)(f, k)
    if rules.nicknames:
        nick = _mask(rng, n, 0.05, factor)
        r = rng.random(n)[nick]
        _apply(given, nick, _variant(names.nickname, r))
    for values in (given, family):
        typo = _mask(rng, n, 0.03, factor)
        r = rng.random((int(typo.sum()), 3))
        _apply(values, typo, lambda s, k, rr=r: _typo(s, rr[k]))
    swap = _mask(rng, n, 0.01, factor)
    given[swap], family[swap] = family[swap], given[swap].copy()
    sex_true = pop.sex[pid]
    noise = np.flatnonzero(_mask(rng, n, 0.10, factor))
    r = rng.random((len(noise), 2))
    for k, i in enumerate(noise.tolist()):
        given[i], family[i] = _format_noise(given[i], family[i], int(sex_true[i]), r[k])

    # date of birth
    y, m, d = ymd(pop.dob[pid])
    trans = _mask(rng, n, 0.01, factor) & (d <= 12) & (d != m)
    m, d = np.where(trans, d, m), np.where(trans, m, d)
    wrong = _mask(rng, n, 0.015, factor)
    how = rng.integers(0, 3, n)
    y = np.where(wrong & (how == 0), y + rng.choice([-1, 1], n), y)
    y = np.where(wrong & (how == 1), y - y % 10 + (y % 10 + rng.integers(1, 10, n)) % 10, y)
    d_new = d - d % 10 + (d % 10 + rng.integers(1, 10, n)) % 10
    d_ok = (d_new >= 1) & (d_new <= days_in_month(y, m))
    d = np.where(wrong & (how == 2) & d_ok, d_new, d)
    if rules.dob_default:
        default = _mask(rng, n, 0.005, factor)
        m, d = np.where(default, 1, m), np.where(default, 1, d)

    sex = sex_true.copy()
    sex = np.where(_mask(rng, n, 0.003, factor), 1 - sex, sex)
    sex = np.where(_mask(rng, n, 0.01, factor), -1, sex)

    postcode = place.pc[pop.postcode_at(pid, info_day)].copy()
    typo = _mask(rng, n, 0.02, factor)
    r = rng.random((int(typo.sum()), 2))
    _apply(postcode, typo, lambda p, k, rr=r: _postcode_typo(p, rr[k]))
    district = _mask(rng, n, 0.02, factor)
    _apply(postcode, district, lambda p, k: p.split(" ")[0])
    postcode[_mask(rng, n, 0.03, factor)] = None

    nhs = None
    if rules.nhs_missing is not None:
        nhs = pop.nhs[pid].copy()
        swap = _mask(rng, n, 0.005, factor)
        r = rng.random(int(swap.sum()))
        _apply(nhs, swap, lambda s, k, rr=r: _swap_adjacent(s, rr[k]))
        nhs[_mask(rng, n, rules.nhs_missing, factor)] = None
    ni = None
    if rules.has_ni:
        ni = pop.ni[pid].copy()
        bad = _mask(rng, n, 0.01, factor) & (ni != None)  # noqa: E711 (object array)
        r = rng.random((int(bad.sum()), 2))
        _apply(ni, bad, lambda s, k, rr=r: _ni_typo(s, rr[k]))
        ni[_mask(rng, n, 0.05, factor)] = None
    return Identity(given, family, y, m, d, sex, postcode, nhs, ni)


def _cut(family: str, r: float) -> str:
    parts = family.split("-")
    if parts[0] in ("Al", "El"):
        return parts[1]
    return parts[int(r * len(parts))]


def _postcode_typo(p: str, r: np.ndarray) -> str:
    positions = [i for i, ch in enumerate(p) if ch != " "]
    i = positions[int(r[0] * len(positions))]
    ch = p[i]
    pool = "0123456789" if ch.isdigit() else "ABDEFGHJLNPQRSTUWXYZ"
    new = pool[int(r[1] * len(pool))]
    if new == ch:
        new = pool[(pool.index(ch) + 1) % len(pool)]
    return p[:i] + new + p[i + 1 :]


def _swap_adjacent(s: str, r: float) -> str:
    """Swap two different adjacent digits: always breaks the modulus 11 check."""
    candidates = [i for i in range(9) if s[i] != s[i + 1]]
    i = candidates[int(r * len(candidates))]
    return s[:i] + s[i + 1] + s[i] + s[i + 2 :]


def _ni_typo(s: str, r: np.ndarray) -> str:
    i = 2 + int(r[0] * 6)
    new = str((int(s[i]) + 1 + int(r[1] * 9)) % 10)
    return s[:i] + new + s[i + 1 :]
