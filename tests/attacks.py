"""Re-identification attacks on the linkage zone, a naive baseline encoder and a scorer.

The attacker holds the linkage zone (`linkage/encoded/<source>.parquet`: record pseudonyms and
keyed encodings, no key) and public knowledge: frequency lists of given names, family names and
dates of birth of a comparable town (the generator's seed-99 town stands in for a census or a
leaked register). Each attack returns one guess per record (a Series on the frame's index,
null where it makes none); `reidentification_rate` scores it against the plaintext.

Attacks:
- `frequency_alignment`: rank distinct tokens by record count and map rank to rank onto the
  public list ranked by frequency (the published attack on unsalted keyed hashes).
- `bloom_pattern_mining`: learn which bits each bigram sets from frequent Bloom filters aligned
  with frequent public names, then decode every filter by the best Dice match among the public
  names re-encoded with the learnt bigram→bits map (Christen et al. 2019, simplified).
- `dob_attack`: exact dates of birth from the dob tokens' frequencies and swap relation and,
  when present, partial-date tokens, ages at event and event dates (interval intersection over
  every record sharing a token).
- `provider_record_id_join` and `provider_dictionary`: a data provider holding its own extract
  tries to join its record ids to the linkage zone, and (worst case) decodes other sources'
  records by token equality with its own records' encodings.

`naive_encode` is the unhardened baseline (unsalted HMAC tokens, partial-date tokens, a plain
bigram Bloom filter, the source's record id, age and event date beside them) on which every
attack must work, so a low rate on placelink's encodings means hardening, not a broken attack.

The frames are indexed by a harness key ("<source>:<record pseudonym>") only to score: no
attack reads the index.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jellyfish
import numpy as np
import pandas as pd
import pyarrow as pa

from placelink.encode import (
    BLOOM_BITS,
    BLOOM_BYTES,
    BLOOM_K,
    MAX_PARTS,
    canonical_given_name,
    load_key,
    record_pseudonyms,
)
from placelink.settings import Settings

EVENT_START = {
    "health_apc": "admidate",
    "health_ecds": "arrival_date",
    "social_care": "event_start",
    "housing": "approach_date",
    "benefits": "assessment_period_start",
}
"""Each source's event date (sources.yaml `event.start`): the date age_at_event is taken on."""

IDENTITY = ["record_id", "given_name", "family_name", "sex", "date_of_birth", "postcode"]


# --- reading the zones -----------------------------------------------------------------------


def read_standardised(home: Path) -> pd.DataFrame:
    """Every source's standardised rows: source, record_id (text), names, sex, dob (ISO text or
    null), postcode and the event date (ISO text)."""
    frames = []
    for folder in sorted((Path(home) / "secure" / "standardised").iterdir()):
        if not folder.is_dir():
            continue
        source = folder.name
        event = EVENT_START[source]
        for path in sorted(folder.glob("*.parquet")):
            df = pd.read_parquet(path, columns=[*IDENTITY, event])
            frames.append(
                pd.DataFrame(
                    {
                        "source": source,
                        "record_id": df["record_id"].astype(str).to_numpy(),
                        "given_name": df["given_name"].astype(object).to_numpy(),
                        "family_name": df["family_name"].astype(object).to_numpy(),
                        "sex": df["sex"].astype(object).to_numpy(),
                        "dob": _iso(df["date_of_birth"]),
                        "postcode": df["postcode"].astype(object).to_numpy(),
                        "event_date": _iso(df[event]),
                    }
                )
            )
    out = pd.concat(frames, ignore_index=True).astype(object)
    return out.where(out.notna(), None)


def _iso(values: pd.Series) -> np.ndarray:
    s = pd.to_datetime(values.astype(object), errors="coerce")
    return np.where(s.isna(), None, s.dt.strftime("%Y-%m-%d")).astype(object)


def read_linkage(home: Path) -> pd.DataFrame:
    """The linkage zone, every source, indexed by "<source>:<record_id>"."""
    frames = [pd.read_parquet(p) for p in sorted((Path(home) / "linkage" / "encoded").glob("*"))]
    out = pd.concat(frames, ignore_index=True)
    out.index = out["source"] + ":" + out["record_id"]
    return out


def read_content(home: Path) -> pd.DataFrame:
    """The analytics zone's age_at_event and event date per record (same record pseudonym)."""
    frames = []
    for source, event in EVENT_START.items():
        path = Path(home) / "content" / f"{source}.parquet"
        if path.exists():
            df = pd.read_parquet(path, columns=["source", "record_id", "age_at_event", event])
            frames.append(
                pd.DataFrame(
                    {
                        "age_at_event": df["age_at_event"].astype("float").to_numpy(),
                        "event_date": _iso(df[event]),
                    },
                    index=df["source"] + ":" + df["record_id"],
                )
            )
    return pd.concat(frames)


def ground_truth(home: Path) -> pd.DataFrame:
    """Plaintext of every record, indexed like `read_linkage` (pseudonyms under the provider
    key, computed here in the harness), with the true person id from content/_truth."""
    std = read_standardised(home)
    key = load_key(Settings.from_env(environ={}, home=Path(home)))
    pseudonym = pd.Series(index=std.index, dtype=object)
    for source, rows in std.groupby("source"):
        ids = record_pseudonyms(key, source, pa.array(rows["record_id"].tolist()))
        pseudonym[rows.index] = ids.to_pylist()
    std.index = std["source"] + ":" + pseudonym
    truth = [pd.read_parquet(p) for p in sorted((Path(home) / "content" / "_truth").glob("*"))]
    if truth:
        t = pd.concat(truth)
        person = pd.Series(t["true_person_id"].to_numpy(), index=t["source"] + ":" + t["record_id"])
        std["person"] = person.reindex(std.index).to_numpy()
    return std


# --- public knowledge ------------------------------------------------------------------------


@dataclass(frozen=True)
class Public:
    """The attacker's frequency lists (most frequent first) from another town."""

    records: pd.DataFrame  # the public town's plaintext rows

    def counts(self, plaintext: Callable[[pd.DataFrame], pd.Series]) -> pd.Series:
        values = plaintext(self.records).dropna()
        return values.value_counts(sort=True)

    def dob_persons(self) -> pd.Series:
        """Persons (distinct family name) per date of birth, most frequent first."""
        r = self.records.dropna(subset=["dob", "family_name"])
        return r.drop_duplicates(["dob", "family_name"])["dob"].value_counts(sort=True)

    @property
    def given_names(self) -> pd.Series:
        return self.counts(lambda r: r["given_name"])

    @property
    def family_names(self) -> pd.Series:
        return self.counts(lambda r: r["family_name"])


def public_knowledge(home: Path) -> Public:
    return Public(read_standardised(home))


# --- plaintexts and scoring ------------------------------------------------------------------


def _nospace(s: pd.Series) -> pd.Series:
    return s.map(lambda v: v.replace(" ", "") if isinstance(v, str) else None)


def _canon(r: pd.DataFrame) -> pd.Series:
    return pd.Series(
        [
            canonical_given_name(g, s).replace(" ", "") if isinstance(g, str) else None
            for g, s in zip(r["given_name"], r["sex"], strict=True)
        ],
        index=r.index,
    )


def _metaphone(s: pd.Series) -> pd.Series:
    return s.map(lambda v: jellyfish.metaphone(v.replace(" ", "")) or None if v else None)


def _first(s: pd.Series) -> pd.Series:
    return s.map(lambda v: v.split()[0] if isinstance(v, str) and v.split() else None)


def _parts(s: pd.Series) -> pd.Series:
    """Family name parts as the encoder keeps them (first MAX_PARTS, distinct, in order)."""
    return s.map(
        lambda v: " ".join(dict.fromkeys(v.split()[:MAX_PARTS])) if isinstance(v, str) else None
    )


def _with_date_part(who: str, part: str) -> Callable[[pd.DataFrame], pd.Series]:
    """The plaintext of a name-and-date-part composite: the name, then the date's part."""
    cut = {"ym": (0, 7), "md": (5, 10), "yd": (0, 4)}[part]

    def plaintext(r: pd.DataFrame) -> pd.Series:
        if who == "sound":  # both names' phonetic codes, as the encoder joins them
            name = pd.Series(
                [g and f and f"{g} {f}" for g, f in zip(
                    _metaphone(r["given_name"]), _metaphone(r["family_name"]), strict=True)],
                index=r.index,
            )  # fmt: skip
        else:
            name = _canon(r) if who == "given" else _nospace(r["family_name"])
        dob = r["dob"].map(lambda d: d if isinstance(d, str) else None)
        date = dob.map(lambda d: d and (d[cut[0] : cut[1]] + (d[7:] if part == "yd" else "")))
        return pd.Series(
            [n and d and f"{n} {d}" for n, d in zip(name, date, strict=True)], index=r.index
        )

    return plaintext


def _with_postcode(who: str) -> Callable[[pd.DataFrame], pd.Series]:
    """The plaintext of a name-and-postcode composite: the name, then the full postcode."""

    def plaintext(r: pd.DataFrame) -> pd.Series:
        name = _canon(r) if who == "given" else _nospace(r["family_name"])
        full = r["postcode"].map(lambda p: p if isinstance(p, str) and " " in p else None)
        return pd.Series(
            [n and p and f"{n} {p}" for n, p in zip(name, full, strict=True)], index=r.index
        )

    return plaintext


def _with_dob_and_sex(r: pd.DataFrame) -> pd.Series:
    """The plaintext of the family-name, date-of-birth and sex composite."""
    return pd.Series(
        [f"{f} {d} {x}" if f and isinstance(d, str) and isinstance(x, str) else None
         for f, d, x in zip(_nospace(r["family_name"]), r["dob"], r["sex"], strict=True)],
        index=r.index,
    )  # fmt: skip


PLAINTEXT: dict[str, tuple[str, Callable[[pd.DataFrame], pd.Series]]] = {
    "given_token": ("given", lambda r: _nospace(r["given_name"])),
    "given_canon_token": ("given", _canon),
    "given_first_token": ("given", lambda r: _first(r["given_name"])),
    "given_phonetic_token": ("given", lambda r: _metaphone(r["given_name"])),
    "family_token": ("family", lambda r: _nospace(r["family_name"])),
    "family_phonetic_token": ("family", lambda r: _metaphone(r["family_name"])),
    "family_part_tokens": ("family", lambda r: _parts(r["family_name"])),
    **{
        f"{who}_{part}_token": (field, _with_date_part(who, part))
        for who, field in (("given", "given"), ("family", "family"), ("sound", "family"))
        for part in ("ym", "md", "yd")
    },
    **{f"{who}_pc_token": (who, _with_postcode(who)) for who in ("given", "family")},
    "family_sex_token": ("family", _with_dob_and_sex),
}
"""Each name-ish token column: which name, and the plaintext it encodes (the guess is scored
against this plaintext of the record's true name; for a composite of a name and part of the
date of birth, both must come out right)."""


def reidentification_rate(guess: pd.Series, truth: pd.Series) -> float:
    """Share of the records that have the field (truth not null) whose guess equals the truth."""
    truth = truth.dropna()
    if truth.empty:
        return 0.0
    g = guess.reindex(truth.index)
    return float((g.to_numpy(dtype=object) == truth.to_numpy(dtype=object)).sum() / len(truth))


# --- a. token frequency alignment ------------------------------------------------------------


def _persons(frame: pd.DataFrame, column: str) -> pd.Series:
    """Distinct persons per value of `column`, as the attacker can count them: distinct
    dob tokens beside it (records only where a frame has no dob_token); ties by records."""
    values = frame[column].map(lambda v: tuple(v) if isinstance(v, list | np.ndarray) else v)
    df = pd.DataFrame({"v": values, "d": frame.get("dob_token", pd.Series(index=frame.index))})
    df = df.dropna(subset=["v"])
    if isinstance(values.dropna().iloc[0] if values.notna().any() else None, tuple):
        df = df.explode("v").dropna(subset=["v"])
    g = df.groupby("v")
    out = pd.DataFrame({"persons": g["d"].nunique(), "records": g.size()})
    out = out.sort_values(["persons", "records"], ascending=False, kind="stable")
    return out["persons"]


def _public_persons(public: Public, plaintext: Callable[[pd.DataFrame], pd.Series]) -> pd.Series:
    """Distinct persons (distinct dates of birth) per public plaintext, most first."""
    r = public.records
    df = pd.DataFrame({"v": plaintext(r), "d": r["dob"]}).dropna(subset=["v"])
    g = df.groupby("v")
    out = pd.DataFrame({"persons": g["d"].nunique(), "records": g.size()})
    return out.sort_values(["persons", "records"], ascending=False, kind="stable")["persons"]


def frequency_alignment(frame: pd.DataFrame, column: str, public_counts: pd.Series) -> pd.Series:
    """Rank distinct tokens of `column` by persons (then records), map rank to rank onto the
    public list (most frequent first).

    A list column (family_part_tokens) is ranked part by part, against the public list's parts,
    and a record's guess is its parts' guesses joined by spaces.
    """
    tokens = frame[column]
    ranked = _persons(frame, column)
    if tokens.map(lambda v: isinstance(v, list | np.ndarray)).any():
        public_parts = pd.Series(
            [p for n, c in public_counts.items() for p in n.split() for _ in range(c)]
        ).value_counts(sort=True)
        mapping = dict(zip(ranked.index, public_parts.index, strict=False))

        def join(v):
            if not isinstance(v, list | np.ndarray) or len(v) == 0:
                return None
            guesses = [mapping.get(t) for t in v]
            return None if None in guesses else " ".join(guesses)

        return tokens.map(join)
    mapping = dict(zip(ranked.index, public_counts.index, strict=False))
    return tokens.map(mapping)


def frequency_attack(frame: pd.DataFrame, public: Public) -> dict[str, pd.Series]:
    """Attack a on every name-ish token column present: {column: guesses}."""
    out = {}
    for column, (_, plaintext) in PLAINTEXT.items():
        if column in frame.columns and frame[column].notna().any():
            out[column] = frequency_alignment(frame, column, _public_persons(public, plaintext))
    return out


# --- b. Bloom filter pattern mining ----------------------------------------------------------


def _bigrams(name: str) -> list[str]:
    padded = "_" + name.replace(" ", "_") + "_"
    return list(dict.fromkeys(padded[i : i + 2] for i in range(len(padded) - 1)))


def _bits(filters: list[bytes]) -> np.ndarray:
    raw = np.frombuffer(b"".join(filters), dtype=np.uint8).reshape(len(filters), BLOOM_BYTES)
    return np.unpackbits(raw, axis=1).astype(np.float32)


def _learn(frequent: np.ndarray, aligned: list[str | None], present: float, absent: float):
    """bigram -> bits set in >= `present` of the filters aligned with a name having the bigram
    and in < `absent` of the other aligned filters."""
    grams: dict[str, list[int]] = {}
    for i, name in enumerate(aligned):
        for g in _bigrams(name) if name else ():
            grams.setdefault(g, []).append(i)
    known = np.array([a is not None for a in aligned])
    learnt: dict[str, np.ndarray] = {}
    for g, rows in grams.items():
        has = np.zeros(len(aligned), dtype=bool)
        has[rows] = True
        p1 = frequent[has].mean(axis=0)
        others = known & ~has
        p0 = frequent[others].mean(axis=0) if others.any() else np.zeros(BLOOM_BITS)
        bits = (p1 >= present) & (p0 < absent)
        if bits.any():
            learnt[g] = bits
    return learnt


def _decode(filters: list[bytes], names: list[str], learnt: dict[str, np.ndarray]):
    """Each filter's best public name by Dice with the names re-encoded from `learnt`."""
    patterns = np.zeros((len(names), BLOOM_BITS), dtype=np.float32)
    for j, name in enumerate(names):
        for g in _bigrams(name):
            if g in learnt:
                patterns[j] = np.maximum(patterns[j], learnt[g])
    sizes = patterns.sum(axis=1)
    out: list[str | None] = []
    for start in range(0, len(filters), 8192):
        chunk = filters[start : start + 8192]
        f = _bits(chunk)
        inter = f @ patterns.T
        total = f.sum(axis=1)[:, None] + sizes[None, :]
        score = np.divide(2 * inter, total, out=np.zeros_like(inter), where=total > 0)
        best = score.argmax(axis=1)
        ok = score[np.arange(len(chunk)), best] > 0
        out.extend(names[j] if good else None for j, good in zip(best, ok, strict=True))
    return out


def bloom_pattern_mining(
    frame: pd.DataFrame,
    column: str,
    public_counts: pd.Series,
    top: int = 200,
    candidates: int = 2000,
    present: float = 0.9,
    absent: float = 0.5,
    rounds: int = 0,
) -> pd.Series:
    """Decode Bloom filters without the key by mining bit patterns of frequent filters.

    The `top` most frequent filters (by persons, then records) are aligned rank to rank with
    the `top` most frequent public names. A bigram's bits are those set in at least `present`
    of the filters whose aligned name has the bigram and in under `absent` of the others.
    Each public name (the `candidates` most frequent) is re-encoded as the union of its
    bigrams' learnt bits, and a filter decodes as the candidate of highest Dice. Optionally
    (`rounds`) the frequent filters are re-aligned with their decoded names and the bits
    learnt again; off by default, as it did not help on the synthetic towns. Finally every
    distinct filter is decoded.
    """
    blooms = frame[column].map(lambda b: bytes(b) if b is not None else None)
    counts = _persons(frame.assign(**{column: blooms}), column)
    if counts.empty:
        return pd.Series(None, index=blooms.index, dtype=object)
    n = min(top, len(counts), len(public_counts))
    head = list(counts.index[:n])
    frequent = _bits(head)
    aligned: list[str | None] = list(public_counts.index[:n])
    names = list(public_counts.index[:candidates])
    learnt = _learn(frequent, aligned, present, absent)
    for _ in range(rounds):
        aligned = _decode(head, names, learnt)
        learnt = _learn(frequent, aligned, 0.9, 0.2)
    distinct = list(counts.index)
    decoded = dict(zip(distinct, _decode(distinct, names, learnt), strict=True))
    return blooms.map(lambda b: decoded.get(bytes(b)) if b is not None else None)


# --- c. dates of birth -----------------------------------------------------------------------


def _month_days() -> np.ndarray:
    days = pd.date_range("2000-01-01", "2000-12-31", freq="D")  # a leap year: all 366
    return (days.month * 100 + days.day).to_numpy(dtype=np.int64)


MONTH_DAYS = _month_days()


def _swap_class(iso: str) -> int:
    """0: day ≤ 12 and day ≠ month (a swap token exists); 1: otherwise."""
    _, m, d = iso.split("-")
    return 0 if int(d) <= 12 and d != m else 1


def _swap(iso: str) -> str:
    y, m, d = iso.split("-")
    return f"{y}-{d}-{m}"


def _lattice(r, tokens, columns, usable, candidates, size) -> np.ndarray:
    """The old design's partial-date lattice: dob tokens sharing a year-month or a month-day
    token share the month (a year-day or month-day token: the day), so the connected
    components of that graph are the months (days). Each token's candidate months (days),
    `candidates(v)` for v in 1..size, are intersected over its component; a component left
    with one candidate labels all its tokens (0: unlabelled)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    out = np.zeros(len(tokens), dtype=np.int64)
    if not all(c in r.columns for c in columns):
        return out
    first = r.groupby("dob_token")[list(columns)].first().reindex(tokens)
    left = pd.factorize(first[columns[0]])[0]
    right = pd.factorize(first[columns[1]])[0]
    ok = (left >= 0) & (right >= 0)
    n_left = left.max() + 1
    nodes = n_left + right.max() + 1
    graph = coo_matrix((np.ones(ok.sum()), (left[ok], n_left + right[ok])), shape=(nodes, nodes))
    _, label = connected_components(graph, directed=False)
    comp = np.where(ok, label[np.where(ok, left, 0)], -1)
    cand = np.stack([candidates(v) for v in range(1, size + 1)], axis=1) | ~usable[:, None]
    for c, idx in pd.Series(np.arange(len(tokens))).groupby(comp):
        if c < 0:
            continue
        rows = idx.to_numpy()
        if not usable[rows].any():
            continue
        both = cand[rows].all(axis=0)
        if both.sum() == 1:
            out[rows] = both.argmax() + 1
    return out


def dob_frequency_alignment(frame: pd.DataFrame, public: Public) -> pd.Series:
    """dob_token rank-aligned to the public dates of birth, persons by persons, within the
    classes the swap relation reveals: paired (its swap token is another record's dob_token,
    so both dates occur), swappable (day ≤ 12, day ≠ month) and the rest."""
    dob, swap = frame["dob_token"], frame.get("dob_swap_token")
    persons_col = next(
        (c for c in ("family_token", "name_year_token", "given_token") if c in frame.columns),
        None,
    )
    r = frame[frame["dob_token"].notna()]
    if persons_col is not None:
        weight = r.groupby("dob_token")[persons_col].nunique()
    else:
        weight = r.groupby("dob_token").size()
    weight = weight.to_frame("persons").assign(records=r.groupby("dob_token").size())
    present = set(dob.dropna())
    if swap is not None:
        first_swap = r.groupby("dob_token")["dob_swap_token"].first()
        has_swap = first_swap.notna()
        paired = first_swap.isin(present)
    else:
        has_swap = pd.Series(False, index=weight.index)
        paired = has_swap
    weight["cls"] = np.where(paired, 0, np.where(has_swap, 1, 2))
    weight = weight.sort_values(["persons", "records"], ascending=False, kind="stable")

    pub = public.dob_persons()
    pub_present = set(pub.index)
    pub_cls = pd.Series(
        [2 if _swap_class(d) else (0 if _swap(d) in pub_present else 1) for d in pub.index],
        index=pub.index,
    )
    if swap is None:
        pub_cls[:] = 2
    mapping: dict[str, str] = {}
    for cls in (0, 1, 2):
        tokens = weight.index[weight["cls"] == cls]
        dates = pub.index[pub_cls.reindex(pub.index).to_numpy() == cls]
        mapping.update(zip(tokens, dates, strict=False))
    return dob.map(mapping)


def _key(iso: pd.Series) -> np.ndarray:
    """YYYYMMDD integers (0 where null)."""
    return iso.fillna("0-0-0").str.replace("-", "").astype(np.int64).to_numpy()


def dob_interval_attack(frame: pd.DataFrame) -> pd.Series:
    """Exact dates of birth from ages at event and event dates, intersected over every record
    sharing a dob_token, then over every dob_token sharing a birth_year_token / dob_md_token
    (when those partial-date tokens exist): the old design's lattice."""
    need = {"dob_token", "age_at_event", "event_date"}
    if not need <= set(frame.columns):
        return pd.Series(None, index=frame.index, dtype=object)
    r = frame[frame["dob_token"].notna() & frame["age_at_event"].notna()]
    r = r[r["event_date"].notna()]
    event = _key(r["event_date"])
    age = r["age_at_event"].to_numpy(dtype=np.int64)
    # age = event year - birth year - [(m, d) of event < (m, d) of birth], so as YYYYMMDD keys
    # event - (age + 1) * 10^4 < birth ≤ event - age * 10^4.
    lo = pd.Series(event - (age + 1) * 10_000, index=r.index).groupby(r["dob_token"]).max()
    hi = pd.Series(event - age * 10_000, index=r.index).groupby(r["dob_token"]).min()
    guess: dict[str, str] = {}
    # Candidate years and month-days of each dob_token.
    lo_y, lo_md = lo.to_numpy() // 10_000, lo.to_numpy() % 10_000
    hi_y, hi_md = hi.to_numpy() // 10_000, hi.to_numpy() % 10_000
    md = MONTH_DAYS[None, :]
    same = (lo_y == hi_y)[:, None]
    wide = ((hi.to_numpy() - lo.to_numpy()) >= 10_000)[:, None]
    cand_md = wide | np.where(
        same,
        (md > lo_md[:, None]) & (md <= hi_md[:, None]),
        (md > lo_md[:, None]) | (md <= hi_md[:, None]),
    )
    tokens = lo.index
    year_of = {}
    md_of = {}
    for column, kind in (("birth_year_token", "year"), ("dob_md_token", "md")):
        if column not in frame.columns:
            continue
        link = r.groupby("dob_token")[column].first().reindex(tokens)
        for part, idx in pd.Series(np.arange(len(tokens)), index=tokens).groupby(link.to_numpy()):
            rows = idx.to_numpy()
            if kind == "md":
                ok = cand_md[rows].all(axis=0)
                if ok.sum() == 1:
                    md_of[part] = int(MONTH_DAYS[ok.argmax()])
            else:
                y0 = (lo_y[rows] + (lo_md[rows] >= 1231)).max()
                y1 = hi_y[rows].min()
                if y0 == y1:
                    year_of[part] = int(y0)
    years = r.groupby("dob_token")["birth_year_token"].first() if year_of else None
    mds = r.groupby("dob_token")["dob_md_token"].first() if md_of else None
    ylo = lo_y + (lo_md >= 1231)
    year = np.array([year_of.get(years[t], -1) if years is not None else -1 for t in tokens])
    year = np.where((year < 0) & (ylo == hi_y), hi_y, year)
    # Month-day range of each token within its (decoded) year: (a, b].
    a = np.where(lo_y == year, lo_md, 0)
    b = np.where(hi_y == year, hi_md, 1231)
    month_of = _lattice(r, tokens, ("dob_ym_token", "dob_md_token"), year >= 0,
                        lambda m: (m * 100 + 31 > a) & (m * 100 + 1 <= b), 12)  # fmt: skip
    known = (year >= 0) & (month_of > 0)
    day_of = _lattice(
        r, tokens, ("dob_yd_token", "dob_md_token"), known,
        lambda d: (month_of * 100 + d > a) & (month_of * 100 + d <= b), 31,
    )  # fmt: skip
    for i, token in enumerate(tokens):
        y = int(year[i]) if year[i] >= 0 else None
        m = md_of.get(mds[token]) if mds is not None else None
        if m is None and month_of[i] > 0 and day_of[i] > 0:
            m = int(month_of[i] * 100 + day_of[i])
        if m is None and cand_md[i].sum() == 1:
            m = int(MONTH_DAYS[cand_md[i].argmax()])
        if y is not None and m is not None:
            iso = f"{y:04d}-{m // 100:02d}-{m % 100:02d}"
            if iso[5:] != "02-29" or pd.Timestamp(y, 1, 1).is_leap_year:
                guess[token] = iso
    return frame["dob_token"].map(guess)


def dob_attack(frame: pd.DataFrame, public: Public) -> pd.Series:
    """Attack c: the interval/lattice decode where it pins a date, else frequency alignment."""
    exact = dob_interval_attack(frame)
    return exact.where(exact.notna(), dob_frequency_alignment(frame, public))


# --- d. the provider's dictionary ------------------------------------------------------------


def provider_record_id_join(own_record_ids: pd.Series, linkage: pd.DataFrame) -> int:
    """Records of the linkage zone whose record_id equals one of the provider's own ids."""
    return int(linkage["record_id"].astype(str).isin(set(own_record_ids.astype(str))).sum())


def _column(name: str) -> Callable[[pd.DataFrame], pd.Series]:
    return lambda r: r[name]


DICTIONARY: dict[str, list[tuple[str, Callable[[pd.DataFrame], pd.Series]]]] = {
    **{
        field: [
            (column, _column(f"{field}_name"))
            for column in (
                f"{field}_token",
                f"{field}_bloom",
                "name_year_token",
                "name_ym_token",
                "name_md_token",
                "name_yd_token",
            )  # fmt: skip
        ]
        for field in ("given", "family")
    },
    "dob": [
        ("dob_token", lambda r: r["dob"]),
        ("dob_swap_token", lambda r: r["dob"].map(lambda d: _swap(d) if d else None)),
    ],
}
"""For each field, the provider's dictionaries: an encoded column of its own records and the
plaintext it learns for each value (a dob_swap_token is the dob_token of the swapped date)."""


def provider_dictionary(
    own: pd.DataFrame, own_truth: pd.DataFrame, others: pd.DataFrame
) -> dict[str, pd.Series]:
    """Guesses for the other sources' records by token equality with the provider's own.

    `own` are the provider's encoded rows and `own_truth` their plaintext on the same index.
    A token whose own records disagree on the plaintext gives the most frequent one.
    """
    out = {}
    for field, sources in DICTIONARY.items():
        guess = pd.Series(None, index=others.index, dtype=object)
        for column, plaintext in sources:
            if column not in own.columns:
                continue
            values = plaintext(own_truth).reindex(own.index)
            keys = own[column].map(lambda v: bytes(v) if isinstance(v, bytes | bytearray) else v)
            pairs = pd.DataFrame({"k": keys, "v": values}).dropna()
            lookup = pairs.groupby("k")["v"].agg(lambda s: s.value_counts().index[0])
            theirs = others[column].map(
                lambda v: bytes(v) if isinstance(v, bytes | bytearray) else v
            )
            found = theirs.map(lookup)
            guess = guess.where(guess.notna(), found)
        out[field] = guess
    return out


# --- the naive baseline ----------------------------------------------------------------------


def naive_encode(truth: pd.DataFrame, secret: bytes, content: pd.DataFrame | None = None):
    """The unhardened encodings, on the truth frame's index: unsalted HMAC-SHA256 tokens of
    each standardised name, its canonical, first-part, phonetic and part forms; plain
    (unkeyed) bigram Bloom filters; dob, swap, year-month, month-day, year-day and birth-year
    tokens; the source's own record id; age at event and event date (from `content`, or
    computed from the truth)."""

    def tok(domain: str) -> Callable:
        memo: dict[str, str] = {}

        def fn(v):
            if not isinstance(v, str) or not v:
                return None
            out = memo.get(v)
            if out is None:
                msg = f"{domain}\x1f{v}".encode()
                out = memo[v] = hmac.new(secret, msg, hashlib.sha256).hexdigest()[:32]
            return out

        return fn

    given, family = truth["given_name"], truth["family_name"]
    out = pd.DataFrame(index=truth.index)
    out["source"] = truth["source"]
    out["record_id"] = truth["record_id"]  # the source's own id: no pseudonym
    out["given_token"] = _nospace(given).map(tok("name"))
    out["given_canon_token"] = _canon(truth).map(tok("name_canon"))
    out["given_first_token"] = _first(given).map(tok("name_part"))
    out["given_phonetic_token"] = _metaphone(given).map(tok("name_phonetic"))
    out["given_bloom"] = given.map(plain_bloom)
    out["family_token"] = _nospace(family).map(tok("name"))
    out["family_phonetic_token"] = _metaphone(family).map(tok("name_phonetic"))
    part = tok("name_part")
    out["family_part_tokens"] = _parts(family).map(
        lambda v: [part(p) for p in v.split()] if v else None
    )
    out["family_bloom"] = family.map(plain_bloom)
    dob = truth["dob"]
    out["dob_token"] = dob.map(tok("dob"))
    out["dob_swap_token"] = dob.map(
        lambda d: tok("dob")(_swap(d)) if d and _swap_class(d) == 0 else None
    )
    for column, cut in (
        ("dob_ym_token", lambda d: d[:7]),
        ("dob_md_token", lambda d: d[5:]),
        ("dob_yd_token", lambda d: d[:4] + d[7:]),
        ("birth_year_token", lambda d: d[:4]),
    ):
        out[column] = dob.map(lambda d, cut=cut: cut(d) if d else None).map(tok(column))
    if content is not None:
        out["age_at_event"] = content["age_at_event"].reindex(truth.index)
        out["event_date"] = content["event_date"].reindex(truth.index)
    else:
        out["event_date"] = truth["event_date"]
        b, e = _key(truth["dob"]), _key(truth["event_date"])
        age = e // 10_000 - b // 10_000 - ((e % 10_000) < (b % 10_000))
        ok = truth["dob"].notna() & truth["event_date"].notna()
        out["age_at_event"] = np.where(ok, age, np.nan)
    return out


def plain_bloom(name) -> bytes | None:
    """An unkeyed, unsalted bigram Bloom filter (SHA-256 positions), as early PPRL used."""
    if not isinstance(name, str) or not name:
        return None
    bits = 0
    for g in _bigrams(name):
        digest = hashlib.sha256(b"bloom\x1f" + g.encode()).digest()
        for j in range(BLOOM_K):
            bits |= 1 << (int.from_bytes(digest[2 * j : 2 * j + 2], "big") % BLOOM_BITS)
    return bits.to_bytes(BLOOM_BYTES, "big")
