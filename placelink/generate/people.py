"""The population: ages, households, names, addresses over time, needs, deaths and identifiers."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

import numpy as np

from placelink.generate.place import Place
from placelink.generate.timeline import NEVER, Timeline

ORIGINS = ("british", "irish", "south_asian", "polish", "west_african", "arabic", "caribbean")
_ORIGIN_SHARE = np.array([0.72, 0.04, 0.09, 0.05, 0.04, 0.03, 0.03])
# England and Wales 2021 census shares by five-year band (0-4 ... 85-89, 90+), in per cent.
_PYRAMID_5Y = np.array(
    [5.4, 5.9, 6.0, 5.6, 6.0, 6.6, 6.9, 6.7, 6.3, 6.4, 6.9, 6.7, 5.8, 5.0, 5.0, 3.7, 2.6, 1.6, 0.9]
)
AGE_BANDS = ("0-17", "18-34", "35-49", "50-64", "65-74", "75-84", "85+")
_BAND_EDGES = np.array([18, 35, 50, 65, 75, 85])


def age_band_index(age: np.ndarray) -> np.ndarray:
    return np.searchsorted(_BAND_EDGES, age, side="right")


@dataclass(frozen=True)
class Names:
    """Name vocabularies with per-(origin, sex) choice lists and variant tables."""

    given: np.ndarray  # object
    family: np.ndarray  # object, grows with hyphenated and feminine forms
    given_by: dict[tuple[int, int], np.ndarray]  # (origin, sex) -> given indices
    family_by: dict[int, np.ndarray]  # origin -> family indices
    feminine: np.ndarray  # family index -> index of its feminine form (Polish -ski -> -ska)
    spelling: dict[str, list[str]]
    nickname: dict[str, list[str]]


def load_names() -> Names:
    """Read the packaged name lists and the variant and nickname tables."""
    pkg = resources.files("placelink.generate")
    with (pkg / "names.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    given = [r for r in rows if r["kind"] == "given"]
    family_rows = [r for r in rows if r["kind"] == "family"]
    given_vocab = np.array([r["name"] for r in given], dtype=object)
    given_by: dict[tuple[int, int], list[int]] = {}
    for i, r in enumerate(given):
        key = (ORIGINS.index(r["origin"]), 0 if r["sex"] == "M" else 1)
        given_by.setdefault(key, []).append(i)
    family_vocab: list[str] = []
    family_by: dict[int, list[int]] = {}
    for r in family_rows:
        if r["name"] not in family_vocab:
            family_vocab.append(r["name"])
        family_by.setdefault(ORIGINS.index(r["origin"]), []).append(family_vocab.index(r["name"]))
    feminine = list(range(len(family_vocab)))
    for i, name in enumerate(list(family_vocab)):
        if name.endswith(("ski", "cki")):
            family_vocab.append(name[:-1] + "a")
            feminine[i] = len(family_vocab) - 1
            feminine.append(len(family_vocab) - 1)
    spelling: dict[str, list[str]] = {}
    nickname: dict[str, list[str]] = {}
    with (pkg / "name_variants.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            table = spelling if r["kind"] == "spelling" else nickname
            table.setdefault(r["name"], []).append(r["variant"])
    return Names(
        given=given_vocab,
        family=np.array(family_vocab, dtype=object),
        given_by={k: np.array(v) for k, v in given_by.items()},
        family_by={k: np.array(v) for k, v in family_by.items()},
        feminine=np.array(feminine),
        spelling=spelling,
        nickname=nickname,
    )


@dataclass
class Population:
    """One row per person; day fields are day numbers, NEVER when the event does not happen."""

    n: int
    sex: np.ndarray  # 0 male, 1 female
    age0: np.ndarray  # age in whole years at the start of the period
    dob: np.ndarray  # day number
    origin: np.ndarray
    given: np.ndarray  # index into names.given
    family0: np.ndarray  # family name index before marriage
    family1: np.ndarray  # after marriage (== family0 when no change)
    marriage_day: np.ndarray
    household: np.ndarray
    partner: np.ndarray  # bool: lives with a partner
    children_in_hh: np.ndarray  # bool: household has someone under 18
    addr_pc: np.ndarray  # (n, 4) postcode index per address slot
    addr_from: np.ndarray  # (n, 4) first day at that address, sorted, NEVER if unused
    death_day: np.ndarray
    nhs: np.ndarray  # object, valid 10-digit NHS numbers
    ni: np.ndarray  # object, NI numbers (None under 16)
    nbh0: np.ndarray  # neighbourhood at the start of the period
    deprivation: np.ndarray  # 0 least .. 1 most deprived (from the IMD decile)
    frail: np.ndarray
    ltc: np.ndarray
    mental: np.ndarray
    substance: np.ndarray
    low_income: np.ndarray
    housing_insecure: np.ndarray
    dementia: np.ndarray
    learning_disability: np.ndarray
    frequent_attender: np.ndarray

    def postcode_at(self, pid: np.ndarray, day: np.ndarray) -> np.ndarray:
        """Postcode index of each person's address on each day."""
        slot = (self.addr_from[pid] <= day[:, None]).sum(axis=1) - 1
        return self.addr_pc[pid, np.maximum(slot, 0)]

    def family_at(self, pid: np.ndarray, day: np.ndarray) -> np.ndarray:
        return np.where(day >= self.marriage_day[pid], self.family1[pid], self.family0[pid])

    def age_at(self, pid: np.ndarray, day: np.ndarray) -> np.ndarray:
        return ((day - self.dob[pid]) / 365.25).astype(np.int64)

    def move_into_care(self, pid: np.ndarray, day: np.ndarray, pc: np.ndarray) -> None:
        """A permanent care-home admission: the care home becomes the last address."""
        later = self.addr_from[pid] >= day[:, None]
        self.addr_from[pid] = np.where(later, NEVER, self.addr_from[pid])
        self.addr_from[pid, 3] = day
        self.addr_pc[pid, 3] = pc
        order = np.argsort(self.addr_from[pid], axis=1, kind="stable")
        self.addr_from[pid] = np.take_along_axis(self.addr_from[pid], order, axis=1)
        self.addr_pc[pid] = np.take_along_axis(self.addr_pc[pid], order, axis=1)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _zipf_choice(rng: np.random.Generator, pool: np.ndarray, size: int) -> np.ndarray:
    """Common names commoner: weight 1/(rank + 3) down each list."""
    w = 1.0 / (np.arange(len(pool)) + 3.0)
    return pool[rng.choice(len(pool), size=size, p=w / w.sum())]


def _sample_ages(rng: np.random.Generator, n: int) -> np.ndarray:
    single = np.repeat(_PYRAMID_5Y[:-1] / 5, 5)
    tail = _PYRAMID_5Y[-1] * np.exp(-0.3 * np.arange(11)) / np.exp(-0.3 * np.arange(11)).sum()
    w = np.concatenate([single, tail])
    return rng.choice(len(w), size=n, p=w / w.sum())


def nhs_check_digit(nine: np.ndarray) -> np.ndarray:
    """Modulus 11 check digit of (m, 9) digit arrays; 10 means the base is unusable."""
    total = (nine * np.arange(10, 1, -1)).sum(axis=1)
    check = 11 - total % 11
    return np.where(check == 11, 0, check)


def _digits_to_str(digits: np.ndarray) -> np.ndarray:
    return np.array(["".join(map(str, row)) for row in digits.tolist()], dtype=object)


def make_nhs_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique valid NHS numbers from the 400-499 and 600-799 million ranges England uses."""
    out = np.empty(0, dtype=np.int64)
    while len(out) < n:
        m = int((n - len(out)) * 1.3) + 16
        first = rng.choice(np.array([4, 6, 7]), size=m)
        base = first * 10**8 + rng.integers(0, 10**8, size=m)
        digits = (base[:, None] // 10 ** np.arange(8, -1, -1)) % 10
        check = nhs_check_digit(digits)
        ok = check < 10
        full = base[ok] * 10 + check[ok]
        out = np.concatenate([out, full])
        _, first_seen = np.unique(out, return_index=True)
        out = out[np.sort(first_seen)]
    return np.array([f"{v:010d}" for v in out[:n].tolist()], dtype=object)


_NI_FIRST = list("ABCEGHJKLMNOPRSTWXYZ")
_NI_SECOND = list("ABCEGHJKLMNPRSTWXYZ")
_NI_BAD = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}
NI_PREFIXES = np.array(
    [a + b for a in _NI_FIRST for b in _NI_SECOND if a + b not in _NI_BAD], dtype=object
)


def make_ni_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique well-formed NI numbers (AA999999A with HMRC's allowed prefixes)."""
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        m = n - len(out) + 16
        pre = NI_PREFIXES[rng.integers(0, len(NI_PREFIXES), m)]
        num = rng.integers(0, 10**6, m)
        suf = np.array(list("ABCD"))[rng.integers(0, 4, m)]
        for p, d, s in zip(pre.tolist(), num.tolist(), suf.tolist(), strict=True):
            v = f"{p}{d:06d}{s}"
            if v not in seen:
                seen.add(v)
                out.append(v)
    return np.array(out[:n], dtype=object)


def build_population(
    rng: np.random.Generator, place: Place, names: Names, n: int, tl: Timeline
) -> tuple[Population, Names]:
    """People in households; returns the names with any hyphenated surnames added."""
    n_twins = int(n * 0.006)
    base_n = n - n_twins
    age = _sample_ages(rng, base_n)
    p_female = np.clip(0.49 + np.maximum(age - 60, 0) * 0.004, 0.49, 0.68)
    sex = (rng.random(base_n) < p_female).astype(np.int64)
    household = np.full(base_n, -1)
    partner = np.zeros(base_n, dtype=bool)

    # Independent adults pair into couples by similar age; the rest live alone.
    at_home = (age >= 18) & (age <= 24) & (rng.random(base_n) < 0.5)
    indep = np.flatnonzero((age >= 18) & ~at_home)
    indep = indep[np.argsort(age[indep] + rng.normal(0, 3, len(indep)), kind="stable")]
    pos = np.arange(len(indep))
    pair = pos // 2
    n_pairs = (len(indep) + 1) // 2
    mean_age = np.bincount(pair, weights=age[indep], minlength=n_pairs) / np.bincount(pair)
    p_couple = np.interp(mean_age, [18, 25, 35, 65, 80, 95], [0.1, 0.45, 0.65, 0.65, 0.4, 0.2])
    couple = (rng.random(n_pairs) < p_couple) & (np.bincount(pair) == 2)
    hh_of_indep = np.where(couple[pair], pair, n_pairs + pos)
    _, hh_of_indep = np.unique(hh_of_indep, return_inverse=True)
    household[indep] = hh_of_indep
    partner[indep] = couple[pair]
    n_hh = int(hh_of_indep.max()) + 1
    is_head = np.ones(len(indep), dtype=bool)
    is_head[1:] = hh_of_indep[1:] != hh_of_indep[:-1]
    heads = indep[is_head]
    head_age = age[heads]

    # Children (and young adults at home) join a household whose head could be their parent.
    deps = np.flatnonzero(household < 0)
    order = np.argsort(head_age, kind="stable")
    sorted_age = head_age[order]
    lo = np.searchsorted(sorted_age, age[deps] + 18, side="left")
    hi = np.searchsorted(sorted_age, age[deps] + 45, side="right")
    hi = np.maximum(hi, lo + 1)
    lo = np.minimum(lo, len(order) - 1)
    hi = np.minimum(hi, len(order))
    pick = lo + (rng.random(len(deps)) * (hi - lo)).astype(np.int64)
    household[deps] = household[heads[order[np.minimum(pick, len(order) - 1)]]]

    # Twins: a second child with the same household and date of birth.
    kids = np.flatnonzero(age < 18)
    twin_of = rng.choice(kids, size=n_twins, replace=False) if n_twins else np.empty(0, int)
    src = np.concatenate([np.arange(base_n), twin_of])
    age = age[src]
    household = household[src]
    partner = partner[src]
    sex = np.concatenate([sex, rng.integers(0, 2, n_twins)])
    dob = tl.start - np.floor(age * 365.25 + rng.random(base_n)[src] * 365).astype(np.int64) - 1

    # Households: neighbourhood, origin, surname, first postcode, moves.
    hh_nbh = rng.choice(len(place.nbh_weight), size=n_hh, p=place.nbh_weight)
    deprivation = (10 - place.nbh_decile) / 9.0
    origin_p = np.tile(_ORIGIN_SHARE, (len(place.nbh_weight), 1))
    origin_p[:, 1:] *= (1.0 + 1.5 * deprivation)[:, None]
    origin_p /= origin_p.sum(axis=1, keepdims=True)
    u = rng.random(n_hh)
    hh_origin = (u[:, None] > np.cumsum(origin_p[hh_nbh], axis=1)).sum(axis=1)
    hh_origin = np.minimum(hh_origin, len(ORIGINS) - 1)
    hh_family = np.empty(n_hh, dtype=np.int64)
    for o in range(len(ORIGINS)):
        m = hh_origin == o
        hh_family[m] = _zipf_choice(rng, names.family_by[o], int(m.sum()))
    family_vocab = list(names.family)
    feminine = list(names.feminine)
    # Double-barrelled names for some British households.
    brit = names.family_by[0]
    dbl = np.flatnonzero((hh_origin == 0) & (rng.random(n_hh) < 0.03))
    second = brit[rng.integers(0, len(brit), len(dbl))]
    index_of = {name: i for i, name in enumerate(family_vocab)}
    for h, s in zip(dbl.tolist(), second.tolist(), strict=True):
        if family_vocab[hh_family[h]] == family_vocab[s]:
            continue
        combo = f"{family_vocab[hh_family[h]]}-{family_vocab[s]}"
        if combo not in index_of:
            index_of[combo] = len(family_vocab)
            family_vocab.append(combo)
            feminine.append(index_of[combo])
        hh_family[h] = index_of[combo]
    names = Names(
        given=names.given,
        family=np.array(family_vocab, dtype=object),
        given_by=names.given_by,
        family_by=names.family_by,
        feminine=np.array(feminine),
        spelling=names.spelling,
        nickname=names.nickname,
    )

    # Partners of another origin keep their own surname more often.
    origin = hh_origin[household]
    other = partner & (rng.random(n) < 0.08)
    origin = np.where(other, rng.choice(len(ORIGINS), size=n, p=_ORIGIN_SHARE), origin)
    family0 = hh_family[household].copy()
    own = partner & (other | (rng.random(n) < 0.12))
    for o in range(len(ORIGINS)):
        m = own & (origin == o)
        family0[m] = _zipf_choice(rng, names.family_by[o], int(m.sum()))
    family0 = np.where(sex == 1, names.feminine[family0], family0)
    given = np.empty(n, dtype=np.int64)
    for (o, s), pool in names.given_by.items():
        m = (origin == o) & (sex == s)
        given[m] = _zipf_choice(rng, pool, int(m.sum()))
    # twins get different given names (a redraw or two is enough with these list sizes)
    twins = np.arange(base_n, n)
    for _ in range(5):
        same = twins[given[twins] == given[twin_of]]
        for (o, s), pool in names.given_by.items():
            m = same[(origin[same] == o) & (sex[same] == s)]
            given[m] = _zipf_choice(rng, pool, len(m))

    # Marriage of single adults during the period; most women and a few men change surname.
    years = tl.months / 12
    single_adult = ~partner & (age >= 20) & (age <= 45)
    marries = single_adult & (rng.random(n) < 1 - np.exp(-0.02 * years))
    changes = marries & (rng.random(n) < np.where(sex == 1, 0.9, 0.05))
    marriage_day = np.where(
        changes, tl.start + (rng.random(n) * (tl.end - tl.start)).astype(np.int64), NEVER
    )
    family1 = family0.copy()
    for o in range(len(ORIGINS)):
        m = changes & (origin == o)
        family1[m] = _zipf_choice(rng, names.family_by[o], int(m.sum()))
    family1 = np.where(sex == 1, names.feminine[family1], family1)

    # Addresses: a first postcode and up to two household moves.
    hh_pc0 = place.homes_in(hh_nbh, rng)
    hh_young = np.zeros(n_hh, dtype=bool)
    hh_young[household[heads]] = head_age < 35
    move_rate = 0.06 + 0.08 * hh_young + 0.05 * deprivation[hh_nbh]
    n_moves = np.minimum(rng.poisson(move_rate * years), 2)
    move_days = np.sort(
        tl.start + (rng.random((n_hh, 2)) * (tl.end - tl.start)).astype(np.int64), axis=1
    )
    move_days = np.where(np.arange(2)[None, :] < n_moves[:, None], move_days, NEVER)
    same_loc = rng.random((n_hh, 2)) < 0.65
    loc_now = place.nbh_locality[hh_nbh]
    new_any = place.homes_in(rng.choice(12, size=2 * n_hh, p=place.nbh_weight), rng)
    new_local = place.homes_in_locality(np.repeat(loc_now, 2), rng)
    hh_moves_pc = np.where(same_loc.ravel(), new_local, new_any).reshape(n_hh, 2)
    addr_pc = np.column_stack([hh_pc0[household], hh_moves_pc[household], hh_pc0[household]])
    addr_from = np.column_stack(
        [np.full(n, -NEVER), move_days[household], np.full(n, NEVER)]
    ).astype(np.int64)

    nbh0 = hh_nbh[household]
    dep = deprivation[nbh0]
    z = rng.normal(size=n)
    male = sex == 0
    adult = age >= 18

    def draw(logit: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return mask & (rng.random(n) < _sigmoid(logit))

    frail = draw(-3.4 + 0.09 * (age - 65) + 0.8 * dep + 0.4 * z, age >= 65)
    ltc = draw(-3.6 + 0.05 * age + 0.6 * dep + 0.3 * z, np.ones(n, dtype=bool))
    mental = draw(-2.7 + 0.9 * dep + 0.9 * z - 0.015 * np.abs(age - 35), age >= 14)
    substance = draw(-4.6 + 1.4 * dep + 1.0 * z + 0.6 * male, (age >= 16) & (age <= 75))
    low_income = draw(
        -2.3 + 2.0 * dep + 0.6 * z + 0.6 * (mental | substance), (age >= 18) & (age <= 63)
    )
    housing_insecure = draw(
        -4.2
        + 1.6 * dep
        + 0.8 * z
        + 1.2 * substance
        + 0.6 * mental
        + 0.9 * low_income
        + 0.5 * (age < 30),
        adult & (age < 75),
    )
    dementia = (age >= 65) & (
        rng.random(n) < np.interp(age, [65, 75, 85, 95], [0.01, 0.04, 0.15, 0.3])
    )
    learning_disability = rng.random(n) < 0.004
    frequent_attender = adult & (mental | substance | housing_insecure) & (rng.random(n) < 0.05)

    # Deaths: Gompertz-like annual risk, raised by frailty, conditions and substance misuse.
    q = np.minimum(0.6, np.exp(-10.4 + 0.094 * age))
    q = q * (1 + 1.5 * frail + 0.3 * ltc + 2.0 * substance + 0.8 * dementia) * (1 + 0.25 * dep)
    hazard = -np.log1p(-np.minimum(q, 0.95)) / 365.25
    t = rng.exponential(1.0 / hazard)
    death_day = np.where(t < tl.end - tl.start, tl.start + t.astype(np.int64), NEVER)

    nhs = make_nhs_numbers(rng, n)
    ni = make_ni_numbers(rng, n)
    ni = np.where(age >= 16, ni, None)
    children_hh = np.zeros(n_hh, dtype=bool)
    children_hh[household[age < 18]] = True

    pop = Population(
        n=n,
        sex=sex,
        age0=age,
        dob=dob,
        origin=origin,
        given=given,
        family0=family0,
        family1=family1,
        marriage_day=marriage_day,
        household=household,
        partner=partner,
        children_in_hh=children_hh[household],
        addr_pc=addr_pc,
        addr_from=addr_from,
        death_day=death_day,
        nhs=nhs,
        ni=ni,
        nbh0=nbh0,
        deprivation=dep,
        frail=frail,
        ltc=ltc,
        mental=mental,
        substance=substance,
        low_income=low_income,
        housing_insecure=housing_insecure,
        dementia=dementia,
        learning_disability=learning_disability,
        frequent_attender=frequent_attender,
    )
    return pop, names
