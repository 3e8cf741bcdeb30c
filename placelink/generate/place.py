"""The made-up place: 3 localities, 12 neighbourhoods with IMD deciles, LSOA-like areas, postcodes.

The postcode area "PK" is well formed but not a real UK postcode area, so no generated
postcode can be mistaken for a real address.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AREA = "PK"
LOCALITIES = ("Northgate", "Riverside", "Southmoor")
# (name, locality index, IMD decile): fixed, so documents and tests can name them.
NEIGHBOURHOODS = (
    ("Abbey Hill", 0, 3),
    ("Castle Fields", 0, 6),
    ("Northgate Central", 0, 8),
    ("Whitmore", 0, 9),
    ("Bridgend", 1, 1),
    ("Docklands", 1, 1),
    ("Millbrook", 1, 2),
    ("Riverside East", 1, 4),
    ("Southmoor Park", 2, 5),
    ("Oakfield", 2, 7),
    ("Greenlands", 2, 2),
    ("Kingsmead", 2, 10),
)
_UNIT_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"))  # the letters real inward codes use
PEOPLE_PER_LSOA = 1600
DISTRICTS = 3 * len(LOCALITIES)  # PK1 to PK9, three to a locality
DISTRICT_POSTCODES = 10 * len(_UNIT_LETTERS) ** 2  # a sector digit and two unit letters


@dataclass(frozen=True)
class Place:
    """Geography arrays; postcode index is the unit everything else refers to."""

    nbh_name: np.ndarray  # (12,) object
    nbh_locality: np.ndarray  # (12,) int
    nbh_decile: np.ndarray  # (12,) int
    nbh_weight: np.ndarray  # (12,) share of households
    pc: np.ndarray  # postcode strings, object
    pc_district: np.ndarray  # object
    pc_lsoa: np.ndarray  # object
    pc_nbh: np.ndarray  # int
    pc_care_home: np.ndarray  # bool: the postcode of a care home

    @property
    def pc_locality(self) -> np.ndarray:
        return self.nbh_locality[self.pc_nbh]

    def homes_in(self, nbh: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A random private (not care home) postcode in each given neighbourhood."""
        return _pick_within(rng, nbh, self.pc_nbh, ~self.pc_care_home)

    def homes_in_locality(self, loc: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return _pick_within(rng, loc, self.pc_locality, ~self.pc_care_home)

    def care_homes_in_locality(self, loc: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return _pick_within(rng, loc, self.pc_locality, self.pc_care_home)


def _pick_within(rng, groups, pc_group, allowed) -> np.ndarray:
    """For each group value, a uniformly chosen allowed postcode index of that group."""
    idx = np.flatnonzero(allowed)
    order = idx[np.argsort(pc_group[idx], kind="stable")]
    keys = pc_group[order]
    lo = np.searchsorted(keys, groups, side="left")
    hi = np.searchsorted(keys, groups, side="right")
    return order[lo + (rng.random(len(groups)) * (hi - lo)).astype(np.int64)]


def build_place(rng: np.random.Generator, people: int) -> Place:
    """Neighbourhood weights favour deprived areas (denser housing); LSOAs scale with people."""
    deciles = np.array([d for _, _, d in NEIGHBOURHOODS])
    weight = (1.0 + 0.06 * (10 - deciles)) * rng.uniform(0.85, 1.15, len(deciles))
    weight = weight / weight.sum()
    pcs, districts, lsoas, nbhs, care = [], [], [], [], []
    used: dict[str, set[str]] = {}
    lsoa_no = 0
    for n, (_, loc, _) in enumerate(NEIGHBOURHOODS):
        within = n - 4 * loc
        n_lsoa = max(3, round(people * weight[n] / PEOPLE_PER_LSOA))
        for k in range(n_lsoa):
            lsoa_no += 1
            number = loc * 3 + (within * 3) // 4 + 1
            # A city fills a district's postcodes (from about 1.8M people): its next LSOAs go
            # on in a new district of the same locality, PK10 after PK1, and so on.
            while len(used.setdefault(f"{AREA}{number}", set())) >= 0.9 * DISTRICT_POSTCODES:
                number += DISTRICTS
            district = f"{AREA}{number}"
            taken = used[district]
            n_pc = int(rng.integers(15, 41))
            got = 0
            while got < n_pc:
                sector = int(rng.integers(0, 10))
                unit = "".join(rng.choice(_UNIT_LETTERS, 2))
                code = f"{district} {sector}{unit}"
                if code in taken:
                    continue
                taken.add(code)
                pcs.append(code)
                districts.append(district)
                lsoas.append(f"E01{990000 + lsoa_no:06d}")
                nbhs.append(n)
                # one care home in about every third LSOA, at least one per neighbourhood
                care.append(got == 0 and (k == 0 or rng.random() < 0.3))
                got += 1
    return Place(
        nbh_name=np.array([name for name, _, _ in NEIGHBOURHOODS], dtype=object),
        nbh_locality=np.array([loc for _, loc, _ in NEIGHBOURHOODS]),
        nbh_decile=deciles,
        nbh_weight=weight,
        pc=np.array(pcs, dtype=object),
        pc_district=np.array(districts, dtype=object),
        pc_lsoa=np.array(lsoas, dtype=object),
        pc_nbh=np.array(nbhs),
        pc_care_home=np.array(care),
    )
