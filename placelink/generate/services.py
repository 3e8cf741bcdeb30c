"""Events in the five services, driven by the latent needs and coupled across services.

Each function returns a table as a dict of equal-length numpy arrays with `pid` (person) and
`day` (the event's start) plus its own fields. Counts come from Poisson draws over each
person's exposure; triggered events (readmissions, care after discharge, crises after a
sanction or around a homelessness approach) are drawn per triggering event.
"""

from __future__ import annotations

import numpy as np

from placelink.generate import codes
from placelink.generate.people import Population
from placelink.generate.place import Place
from placelink.generate.timeline import NEVER, Timeline

Table = dict[str, np.ndarray]


def _weighted(rng: np.random.Generator, pairs, size: int) -> np.ndarray:
    """Indices into `pairs` ((value, weight), ...) drawn by weight."""
    w = np.array([p[1] for p in pairs], dtype=float)
    return rng.choice(len(pairs), size=size, p=w / w.sum())


def _rows_choice(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One column index per row of a non-negative weight matrix."""
    cum = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cum[:, -1]
    return np.minimum((u[:, None] > cum).sum(axis=1), weights.shape[1] - 1)


def _poisson_days(rng, pid, rate_per_year, start, end) -> tuple[np.ndarray, np.ndarray]:
    """Event days for each person at a constant yearly rate over [start, end)."""
    span = np.maximum(end - start, 0)
    k = rng.poisson(rate_per_year * span / 365.25)
    rep = np.repeat(pid, k)
    day = np.repeat(start, k) + (rng.random(int(k.sum())) * np.repeat(span, k)).astype(np.int64)
    return rep, day


def _concat(tables: list[Table]) -> Table:
    return {k: np.concatenate([t[k] for t in tables]) for k in tables[0]}


def _take(table: Table, keep: np.ndarray) -> Table:
    return {k: v[keep] for k, v in table.items()}


def _alive_end(pop: Population, tl: Timeline) -> np.ndarray:
    return np.minimum(pop.death_day, tl.end)


def _triggered(rng, pid, day, p, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """With probability p per trigger, an event lo..hi days after it (negative: before)."""
    hit = rng.random(len(pid)) < p
    return pid[hit], day[hit] + rng.integers(lo, hi + 1, int(hit.sum()))


def simulate_benefits(rng: np.random.Generator, pop: Population, tl: Timeline) -> Table:
    """Universal Credit claims expanded to one row per assessment period, with sanctions."""
    age = pop.age0
    working_age = (age >= 18) & (age <= 63)
    short = working_age & ~pop.low_income & (rng.random(pop.n) < 0.04)
    claimant = np.flatnonzero((pop.low_income & working_age) | short)
    c = len(claimant)
    long_claim = pop.low_income[claimant]
    span = tl.end - tl.start
    ongoing = long_claim & (rng.random(c) < 0.6)
    start = np.where(
        ongoing,
        tl.start - rng.integers(1, 900, c),
        tl.start + (rng.random(c) * span).astype(np.int64),
    )
    mean_months = np.where(long_claim, 30.0, 7.0)
    end = start + (rng.geometric(1.0 / mean_months) * 30.44).astype(np.int64)
    limit = np.minimum(end, _alive_end(pop, tl)[claimant])
    dom = np.minimum(
        (
            start
            - start.astype("datetime64[D]")
            .astype("datetime64[M]")
            .astype("datetime64[D]")
            .astype(np.int64)
        )
        + 1,
        28,
    )
    m_first = np.searchsorted(tl.month_start[:-1], start - dom + 1, side="left")
    m_end = np.searchsorted(tl.month_start[:-1], limit - dom + 1, side="left")
    count = np.maximum(m_end - m_first, 0)
    keep = count > 0
    claimant, start, dom, m_first, count = (
        claimant[keep],
        start[keep],
        dom[keep],
        m_first[keep],
        count[keep],
    )
    long_claim = long_claim[keep]
    c = len(claimant)
    claim_order = np.lexsort((claimant, start))
    claim_no = np.empty(c, dtype=np.int64)
    claim_no[claim_order] = np.arange(c)

    # claim-level circumstances
    couple = pop.partner[claimant]
    kids = pop.children_in_hh[claimant]
    hh_type = couple.astype(int) * 2 + kids.astype(int)
    renter = rng.random(c) < 0.75
    rent = np.where(renter, rng.uniform(380, 780, c) + 150 * kids, 0.0).round(2)
    lcw = (pop.ltc | pop.mental | pop.frail)[claimant] & (rng.random(c) < 0.55)
    works = ~lcw & (rng.random(c) < np.where(long_claim, 0.35, 0.2))
    pay = rng.uniform(250, 1500, c)

    rep = np.repeat(np.arange(c), count)
    month = m_first[rep] + (np.arange(len(rep)) - np.repeat(np.cumsum(count) - count, count))
    pid = claimant[rep]
    ap_start = tl.month_start[month] + dom[rep] - 1
    fy = np.minimum(month // 12, 2)
    earnings = np.where(works[rep], pay[rep] * rng.uniform(0.7, 1.3, len(rep)), 0.0).round(2)
    under25 = pop.age_at(pid, ap_start) < 25
    standard = np.where(
        couple[rep],
        np.take(codes.UC_COUPLE, fy),
        np.where(under25, np.take(codes.UC_SINGLE_U25, fy), np.take(codes.UC_SINGLE_25, fy)),
    )
    allowance = np.where(kids[rep] | lcw[rep], np.take(codes.UC_WORK_ALLOWANCE, fy), 0.0)
    award = (
        standard
        + kids[rep] * np.take(codes.UC_CHILD, fy)
        + lcw[rep] * np.take(codes.UC_LCWRA, fy)
        + rent[rep]
        - 0.55 * np.maximum(earnings - allowance, 0.0)
    )

    # sanctions: conditionality applies to those not working and not found unfit for work
    p_sanction = (
        0.006
        * (~lcw[rep])
        * (earnings == 0)
        * (1 + 2.0 * pop.substance[pid] + 1.0 * pop.mental[pid] + 1.0 * under25)
        * (1 + pop.deprivation[pid])
    )
    sanctioned = rng.random(len(rep)) < p_sanction
    s_start = np.where(sanctioned, ap_start + rng.integers(1, 28, len(rep)), NEVER)
    s_days = np.where(
        sanctioned,
        np.take([d for d, _ in codes.SANCTION_DAYS], _weighted(rng, codes.SANCTION_DAYS, len(rep))),
        0,
    )
    s_reason = np.where(sanctioned, _weighted(rng, codes.SANCTION_REASONS, len(rep)), -1)
    award = np.maximum(award - sanctioned * standard * np.minimum(s_days, 30) / 30, 0).round(2)
    return {
        "pid": pid,
        "day": ap_start,
        "claim": claim_no[rep],
        "claim_start": start[rep],
        "household_type": hh_type[rep],
        "housing_element": rent[rep],
        "earnings": earnings,
        "lcw": lcw[rep],
        "sanction_start": s_start,
        "sanction_reason": s_reason,
        "sanction_days": s_days.astype(np.int32),
        "award_amount": award,
    }


def simulate_housing(rng, pop: Population, tl: Timeline, sanctions: Table) -> Table:
    """Homelessness approaches from housing insecurity, and after some sanctions."""
    adult = (pop.age0 >= 18) & (pop.age0 < 80)
    rate = adult * (0.22 * pop.housing_insecure + 0.002)
    pid, day = _poisson_days(
        rng, np.arange(pop.n), rate, np.full(pop.n, tl.start), _alive_end(pop, tl)
    )
    tp, td = _triggered(rng, sanctions["pid"], sanctions["day"], 0.06, 0, 89)
    pid = np.concatenate([pid, tp])
    day = np.concatenate([day, td])
    ok = day < _alive_end(pop, tl)[pid]
    pid, day = pid[ok], day[ok]
    m = len(pid)
    rough = (pop.substance[pid] | pop.mental[pid]) & (rng.random(m) < 0.25)
    duty = np.where(rough, 1, np.where(rng.random(m) < 0.42, 1, 0))
    duty = np.where((duty == 1) & (rng.random(m) < 0.12), 2, duty)
    reason = _weighted(rng, codes.REASONS, m)
    acc_w = np.tile([0.3, 0.12, 0.25, 0.12, 0.06, 0.0, 0.05, 0.1], (m, 1))
    acc_w[rough] = [0, 0, 0, 0, 0.4, 0.6, 0, 0]
    accommodation = _rows_choice(rng, acc_w)
    order = np.lexsort((day, pid))
    repeat = np.zeros(m, dtype=bool)
    repeat[order[1:]] = pid[order[1:]] == pid[order[:-1]]
    needs = np.empty(m, dtype=object)
    u = rng.random((m, 8))
    age = pop.age_at(pid, day)
    flags = {
        "history_of_mental_health_problems": np.where(
            pop.mental[pid], u[:, 0] < 0.85, u[:, 0] < 0.04
        ),
        "drug_dependency_needs": pop.substance[pid] & (u[:, 1] < 0.55),
        "alcohol_dependency_needs": pop.substance[pid] & (u[:, 2] < 0.5),
        "physical_ill_health_and_disability": (pop.ltc | pop.frail)[pid] & (u[:, 3] < 0.5),
        "at_risk_of_domestic_abuse": (reason == 2) & (u[:, 4] < 0.8),
        "history_of_repeat_homelessness": repeat,
        "history_of_rough_sleeping": rough & (u[:, 5] < 0.6),
        "young_person_aged_18_25_requiring_support": (age <= 25) & (u[:, 6] < 0.3),
        "learning_disability": pop.learning_disability[pid],
        "offending_history": (u[:, 7] < np.where(pop.substance[pid], 0.2, 0.03)),
    }
    names = list(flags)
    matrix = np.column_stack([flags[k] for k in names])
    for i, row in enumerate(matrix.tolist()):
        needs[i] = [names[j] for j, f in enumerate(row) if f]
    duty_names = np.array(["prevention", "relief", "main"])
    outcome = np.full(m, -1)
    for d, name in enumerate(duty_names):
        sel = duty == d
        outcome[sel] = _weighted(rng, codes.OUTCOMES[name], int(sel.sum()))
    outcome_day = day + np.where(duty == 2, rng.integers(60, 300, m), rng.integers(7, 80, m))
    closed = outcome_day < tl.end
    return {
        "pid": pid,
        "day": day,
        "duty": duty,
        "reason": reason,
        "accommodation": accommodation,
        "support_needs": needs,
        "outcome": np.where(closed, outcome, -1),
        "outcome_day": np.where(closed, outcome_day, NEVER),
    }


def _emergency_category(rng, pop: Population, pid: np.ndarray, day: np.ndarray) -> np.ndarray:
    age = pop.age_at(pid, day)
    old = age >= 65
    w = np.column_stack(
        [
            0.03 + 0.35 * pop.frail[pid] + 0.08 * old,  # fall
            0.25 * pop.frail[pid] + 0.05 * (age >= 80),  # frailty
            0.45 * pop.mental[pid] * (age < 80),  # mental
            0.8 * pop.substance[pid],  # substance
            0.2 * pop.mental[pid] * (age >= 12) * (age < 65),  # self-harm
            np.where(age < 16, 0.1, 1.0),  # medical
            np.where(age < 16, 1.5, 0.0),  # child
        ]
    )
    return _rows_choice(rng, w)


def simulate_health(
    rng, pop: Population, tl: Timeline, sanctions: Table, housing: Table
) -> tuple[Table, Table]:
    """Inpatient episodes (one episode per spell) and A&E attendances."""
    n = pop.n
    everyone = np.arange(n)
    start = np.full(n, tl.start)
    alive_end = _alive_end(pop, tl)
    age = pop.age0
    dep = pop.deprivation
    band = np.interp(
        age,
        [0, 4, 16, 18, 35, 50, 65, 75, 85, 95],
        [0.08, 0.035, 0.03, 0.045, 0.045, 0.055, 0.07, 0.12, 0.2, 0.3],
    )
    em_rate = (
        band
        * (1 + 1.2 * pop.frail)
        * (1 + 0.6 * pop.ltc)
        * (1 + 0.5 * pop.mental)
        * (1 + 1.5 * pop.substance)
        * (1 + 0.5 * pop.dementia)
        * (1 + 0.3 * dep)
    )
    e_pid, e_day = _poisson_days(rng, everyone, em_rate, start, alive_end)
    e_cat = _emergency_category(rng, pop, e_pid, e_day)
    # mental-health admissions after some homelessness approaches
    mh = pop.mental[housing["pid"]]
    t_pid, t_day = _triggered(rng, housing["pid"][mh], housing["day"][mh], 0.08, 1, 90)
    cat_index = {c: i for i, c in enumerate(codes.EMERGENCY_CATEGORIES)}
    e_pid = np.concatenate([e_pid, t_pid])
    e_day = np.concatenate([e_day, t_day])
    e_cat = np.concatenate([e_cat, np.full(len(t_pid), cat_index["mental"])])
    mean_los = np.array([codes.EMERGENCY[c]["los"] for c in codes.EMERGENCY_CATEGORIES])
    los = rng.gamma(1.3, mean_los[e_cat] / 1.3) * np.where(pop.age_at(e_pid, e_day) >= 75, 1.4, 1)
    los = los.astype(np.int64)
    # readmissions within 30 days of an emergency discharge
    dis = e_day + los
    p_re = 0.06 + 0.08 * pop.frail[e_pid] + 0.04 * pop.substance[e_pid] + 0.03 * pop.ltc[e_pid]
    r = rng.random(len(e_pid)) < p_re
    r_pid = e_pid[r]
    r_day = dis[r] + rng.integers(1, 31, int(r.sum()))
    r_cat = np.where(rng.random(len(r_pid)) < 0.5, e_cat[r], cat_index["medical"])
    r_los = (rng.gamma(1.3, mean_los[r_cat] / 1.3) * 1.2).astype(np.int64)
    # deaths in hospital: a last emergency admission ending on the day of death
    died = np.flatnonzero(pop.death_day < tl.end)
    in_hosp = died[rng.random(len(died)) < np.where(age[died] >= 65, 0.45, 0.3)]
    d_los = rng.gamma(1.5, 6.0, len(in_hosp)).astype(np.int64)
    d_day = pop.death_day[in_hosp] - d_los
    # elective admissions
    el_rate = np.interp(age, [0, 18, 50, 65, 75, 95], [0.015, 0.03, 0.08, 0.12, 0.14, 0.07]) * (
        1 + 0.5 * pop.ltc
    )
    l_pid, l_day = _poisson_days(rng, everyone, el_rate, start, alive_end)
    l_los = np.where(rng.random(len(l_pid)) < 0.65, 0, rng.integers(1, 6, len(l_pid)))

    kind = np.concatenate(
        [
            np.zeros(len(e_pid)),
            np.ones(len(r_pid)),
            np.full(len(in_hosp), 2),
            np.full(len(l_pid), 3),
        ]
    ).astype(np.int8)
    apc: Table = {
        "pid": np.concatenate([e_pid, r_pid, in_hosp, l_pid]),
        "day": np.concatenate([e_day, r_day, d_day, l_day]),
        "los": np.concatenate([los, r_los, d_los, l_los]),
        "cat": np.concatenate([e_cat, r_cat, np.full(len(in_hosp), -1), np.full(len(l_pid), -1)]),
        "kind": kind,
    }
    apc = _take(
        apc,
        (apc["day"] >= tl.start)
        & (apc["day"] < tl.end)
        & (apc["day"] <= pop.death_day[apc["pid"]]),
    )
    apc["dis"] = apc["day"] + apc["los"]
    # one spell at a time: drop admissions that start before the previous discharge
    for _ in range(3):
        order = np.lexsort((-apc["kind"], apc["day"], apc["pid"]))
        apc = _take(apc, order)
        clash = np.zeros(len(apc["pid"]), dtype=bool)
        clash[1:] = (apc["pid"][1:] == apc["pid"][:-1]) & (apc["day"][1:] <= apc["dis"][:-1])
        apc = _take(apc, ~clash)
    pid = apc["pid"]
    m = len(pid)
    death = pop.death_day[pid]
    dies = (apc["kind"] == 2) | ((apc["dis"] >= death) & (death < tl.end))
    apc["dis"] = np.where(dies, np.minimum(apc["dis"], death), apc["dis"])
    apc["dis"] = np.where(apc["dis"] >= tl.end, NEVER, apc["dis"])
    open_spell = apc["dis"] == NEVER
    emergency = apc["kind"] < 3
    meth = np.array([c for c, _ in codes.EMERGENCY_ADMIMETH], dtype=object)
    el_meth = np.array([c for c, _ in codes.ELECTIVE_ADMIMETH], dtype=object)
    admimeth = np.where(
        emergency,
        meth[_weighted(rng, codes.EMERGENCY_ADMIMETH, m)],
        el_meth[_weighted(rng, codes.ELECTIVE_ADMIMETH, m)],
    )
    admimeth = np.where(
        emergency & (apc["cat"] == cat_index["mental"]) & (rng.random(m) < 0.3), "25", admimeth
    )
    self_discharge = (pop.substance[pid] | pop.mental[pid]) & (rng.random(m) < 0.06)
    dismeth = np.where(open_spell, "8", np.where(dies, "4", np.where(self_discharge, "2", "1")))
    transfer = rng.random(m) < 0.02
    disdest = np.where(open_spell, "98", np.where(dies, "79", np.where(transfer, "51", "19")))
    admisorc = np.where(rng.random(m) < 0.01, "51", "19").astype(object)

    # diagnoses and specialty
    d1 = np.empty(m, dtype=object)
    d2 = np.empty(m, dtype=object)
    tret = np.empty(m, dtype=object)
    for ci, c in enumerate(codes.EMERGENCY_CATEGORIES):
        sel = np.flatnonzero((apc["cat"] == ci) & (apc["kind"] != 2))
        spec = codes.EMERGENCY[c]
        k = rng.integers(0, len(spec["diag"]), len(sel))
        d1[sel] = np.array([d[0] for d in spec["diag"]], dtype=object)[k]
        d2[sel] = np.array([d[1] for d in spec["diag"]], dtype=object)[k]
        tret[sel] = np.array(spec["tret"], dtype=object)[
            rng.integers(0, len(spec["tret"]), len(sel))
        ]
    sel = np.flatnonzero(apc["kind"] == 2)
    k = rng.integers(0, len(codes.TERMINAL_DIAG), len(sel))
    d1[sel] = np.array([d[0] for d in codes.TERMINAL_DIAG], dtype=object)[k]
    d2[sel] = np.array([d[1] for d in codes.TERMINAL_DIAG], dtype=object)[k]
    tret[sel] = np.where(pop.age_at(pid[sel], apc["day"][sel]) >= 75, "430", "300")
    sel = np.flatnonzero(apc["kind"] == 3)
    k = rng.integers(0, len(codes.ELECTIVE), len(sel))
    d1[sel] = np.array([d[0] for d in codes.ELECTIVE], dtype=object)[k]
    d2[sel] = ""
    tret[sel] = np.array([d[1] for d in codes.ELECTIVE], dtype=object)[k]
    tret = np.where(emergency & (pop.age_at(pid, apc["day"]) < 16), "420", tret)
    d3 = np.where(
        pop.frail[pid],
        "R54X",
        np.where(
            pop.dementia[pid],
            "F03X",
            np.where(
                pop.ltc[pid],
                np.array(["I10X", "E119", "J449"], dtype=object)[rng.integers(0, 3, m)],
                "",
            ),
        ),
    )
    d2 = np.where(d2 == "", np.where(d3 == "R54X", "", d3), d2)
    d3 = np.where((d3 == d2) | (d3 == d1), "", d3)
    apc.update(
        admimeth=admimeth,
        admisorc=admisorc,
        disdest=disdest.astype(object),
        dismeth=dismeth.astype(object),
        diag1=d1,
        diag2=d2,
        diag3=d3,
        tretspef=tret,
    )

    ecds = _simulate_ae(rng, pop, tl, apc, sanctions, housing, cat_index)
    return apc, ecds


_HOUR_WEIGHTS = np.array(
    [
        2,
        1.5,
        1.2,
        1,
        1,
        1,
        1.5,
        2.5,
        4,
        5.5,
        6,
        6,
        6,
        5.8,
        5.6,
        5.5,
        5.5,
        5.6,
        5.5,
        5,
        4.5,
        4,
        3.2,
        2.5,
    ]
)


def _simulate_ae(
    rng, pop, tl, apc: Table, sanctions: Table, housing: Table, cat_index: dict[str, int]
) -> Table:
    n = pop.n
    age = pop.age0
    base = np.interp(
        age, [0, 5, 16, 25, 45, 65, 80, 95], [0.3, 0.2, 0.24, 0.22, 0.17, 0.17, 0.35, 0.45]
    )
    rate = (
        base
        * (1 + 0.8 * pop.mental)
        * (1 + 2.0 * pop.substance)
        * (1 + 0.6 * pop.housing_insecure)
        * (1 + 0.3 * pop.deprivation)
        + 5.5 * pop.frequent_attender
    )
    pid, day = _poisson_days(rng, np.arange(n), rate, np.full(n, tl.start), _alive_end(pop, tl))
    triggered = [np.zeros(len(pid), dtype=bool)]
    parts_pid, parts_day = [pid], [day]
    vulnerable = pop.mental | pop.substance
    h_pid, h_day = housing["pid"], housing["day"]
    for p_v, p_o, lo, hi in ((0.35, 0.12, -90, -1), (0.4, 0.12, 1, 90)):
        p = np.where(vulnerable[h_pid], p_v, p_o)
        hit = rng.random(len(h_pid)) < p
        parts_pid.append(h_pid[hit])
        parts_day.append(h_day[hit] + rng.integers(lo, hi + 1, int(hit.sum())))
        triggered.append(np.ones(int(hit.sum()), dtype=bool))
    s_pid, s_day = _triggered(rng, sanctions["pid"], sanctions["day"], 0.22, 0, 89)
    parts_pid.append(s_pid)
    parts_day.append(s_day)
    triggered.append(np.ones(len(s_pid), dtype=bool))
    pid = np.concatenate(parts_pid)
    day = np.concatenate(parts_day)
    trig = np.concatenate(triggered)
    ok = (day >= tl.start) & (day < _alive_end(pop, tl)[pid])
    pid, day, trig = pid[ok], day[ok], trig[ok]
    m = len(pid)
    a = pop.age_at(pid, day)
    w = np.column_stack(
        [
            np.where(a < 16, 0.3, 0.4),  # injury
            np.where(a < 16, 0.1, 0.4),  # medical
            (1.2 + 2 * trig) * pop.mental[pid],  # mental
            (1.5 + 2 * trig) * pop.substance[pid],  # substance
            0.3 * pop.mental[pid] * (a >= 12) * (a < 65),  # self-harm
            np.where(a < 16, 0.8, 0.0),  # child
            0.6 * pop.frail[pid] + 0.1 * (a >= 75),  # fall
        ]
    )
    cat = _rows_choice(rng, w)
    icd = np.empty(m, dtype=object)
    complaint = np.empty(m, dtype=object)
    for ci, c in enumerate(codes.AE_CATEGORIES):
        sel = np.flatnonzero(cat == ci)
        opts = codes.AE_MINOR[c]
        k = rng.integers(0, len(opts), len(sel))
        icd[sel] = np.array([o[0] for o in opts], dtype=object)[k]
        complaint[sel] = np.array([o[1] for o in opts], dtype=object)[k]
    u = rng.random(m)
    dest = np.where(u < 0.04, codes.AE_LEFT, np.where(u < 0.07, codes.AE_TRANSFER, codes.AE_HOME))
    dept = np.where(
        (cat == 0) & (rng.random(m) < 0.45), "03", np.where(rng.random(m) < 0.02, "02", "01")
    )
    mode = np.where(
        rng.random(m) < np.where(a >= 75, 0.55, 0.18),
        0,
        _rows_choice(rng, np.tile([0, 0.6, 0.15, 0.05, 0.2], (m, 1))),
    )
    mode = np.where((cat == 3) & (rng.random(m) < 0.15), 3, mode)
    minor: Table = {
        "pid": pid,
        "day": day,
        "icd": icd,
        "complaint": complaint,
        "dest": dest.astype(object),
        "dept": dept.astype(object),
        "mode": mode,
    }

    # every emergency admission through this A&E (admimeth 21) has its attendance
    via_ae = np.flatnonzero(apc["admimeth"] == "21")
    k = len(via_ae)
    cat_names = np.array(codes.EMERGENCY_CATEGORIES + ("terminal",), dtype=object)
    a_cat = cat_names[apc["cat"][via_ae]]
    adm_complaint = np.array(
        [
            codes.EMERGENCY[c]["complaint"] if c in codes.EMERGENCY else "367391008"
            for c in a_cat.tolist()
        ],
        dtype=object,
    )
    admitted: Table = {
        "pid": apc["pid"][via_ae],
        "day": apc["day"][via_ae],
        "icd": apc["diag1"][via_ae],
        "complaint": adm_complaint,
        "dest": np.full(k, codes.AE_WARD, dtype=object),
        "dept": np.full(k, "01", dtype=object),
        "mode": np.where(rng.random(k) < 0.75, 0, 1),
    }
    ecds = _concat([minor, admitted])
    t = len(ecds["pid"])
    ecds["minute"] = rng.choice(
        24, size=t, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()
    ) * 60 + rng.integers(0, 60, t)
    ecds["snomed"] = np.array([codes.ICD_TO_SNOMED[c] for c in ecds["icd"].tolist()], dtype=object)
    fa = pop.frequent_attender[ecds["pid"]]
    ecds["category"] = np.where(rng.random(t) < np.where(fa, 0.15, 0.04), "2", "1").astype(object)
    return ecds


def simulate_social_care(
    rng, pop: Population, tl: Timeline, place: Place, apc: Table, ecds: Table, sanctions: Table
) -> Table:
    """Requests, assessments, services and reviews; moves people into care homes and
    updates the hospital codes of care-home residents to match."""
    n = pop.n
    age = pop.age0
    alive_end = _alive_end(pop, tl)
    psr = np.select(
        [pop.learning_disability, pop.dementia, pop.frail, pop.mental, pop.substance, age >= 65],
        [4, 2, 0, 3, 5, 1],
        default=6,
    )
    rows: list[Table] = []

    def add(pid, kind, start, end, route, outcome, service, component, reason=None):
        k = len(pid)

        def full(v):
            return np.full(k, v, dtype=object) if not isinstance(v, np.ndarray) else v

        rows.append(
            {
                "pid": pid,
                "kind": full(kind),
                "day": start,
                "end": end,
                "route": full(route),
                "outcome": full(outcome),
                "service": full(service),
                "component": full(component),
                "psr": full(reason)
                if reason is not None
                else np.array(codes.PSR, dtype=object)[psr[pid]],
            }
        )

    lts_pid, lts_start, lts_type = [], [], []  # 0 community, 1 residential, 2 nursing

    # long-term clients from before the period: visible through their annual reviews
    p_pre = np.where(
        age >= 65,
        0.03 + 0.3 * pop.frail + 0.35 * pop.dementia,
        np.where(
            age >= 18, 0.7 * pop.learning_disability + 0.04 * pop.mental + 0.004 * pop.ltc, 0.0
        ),
    )
    pre = np.flatnonzero((rng.random(n) < p_pre) & (alive_end > tl.start))
    pre_type = np.where(
        age[pre] >= 65,
        _rows_choice(rng, np.tile([0.66, 0.22, 0.12], (len(pre), 1))),
        np.where(rng.random(len(pre)) < 0.08, 1, 0),
    )
    pre_start = tl.start - rng.integers(30, 1500, len(pre))
    lts_pid.append(pre)
    lts_start.append(pre_start)
    lts_type.append(pre_type)

    # after emergency discharges of people aged 65 and over
    care_before = np.full(n, NEVER)
    in_care = pre[pre_type > 0]
    care_before[in_care] = pre_start[pre_type > 0]
    dis_day = apc["dis"]
    sel = np.flatnonzero(
        (apc["kind"] < 3)
        & (apc["dismeth"] == "1")
        & (apc["disdest"] == "19")
        & (pop.age_at(apc["pid"], apc["day"]) >= 65)
    )
    sel = sel[care_before[apc["pid"][sel]] > dis_day[sel]]
    dp = apc["pid"][sel]
    p_req = np.minimum(
        0.1
        + 0.4 * pop.frail[dp]
        + 0.15 * pop.dementia[dp]
        + 0.05 * (pop.age_at(dp, dis_day[sel]) >= 85),
        0.8,
    )
    hit = rng.random(len(sel)) < p_req
    sel, dp = sel[hit], dp[hit]
    dd = dis_day[sel]
    bucket = _weighted(rng, ((0, 0.45), (1, 0.25), (2, 0.15), (3, 0.15)), len(sel))
    lo = np.array([0, 3, 8, 29])[bucket]
    hi = np.array([2, 7, 28, 90])[bucket]
    req = dd + lo + (rng.random(len(sel)) * (hi - lo + 1)).astype(np.int64)
    ok = req < alive_end[dp]
    sel, dp, dd, req, bucket = sel[ok], dp[ok], dd[ok], req[ok], bucket[ok]
    k = len(sel)
    early = bucket <= 1
    direct = (
        (bucket == 0) & (pop.dementia[dp] | (pop.age_at(dp, dd) >= 85)) & (rng.random(k) < 0.12)
    )
    stmax = ~direct & early & (rng.random(k) < 0.55)
    assess = ~direct & ~stmax & (rng.random(k) < 0.7)
    req_outcome = np.where(
        direct | assess,
        "Progress to Assessment",
        np.where(
            stmax,
            "Progress to Reablement/ST-Max",
            "Universal Services/Signposted to other services",
        ),
    )
    route = np.where(early, codes.ROUTES[0], codes.ROUTES[1])
    add(dp, "Request", req, req, route.astype(object), req_outcome.astype(object), None, None)
    # straight to a care home from hospital
    dtype_ = np.where(rng.random(int(direct.sum())) < 0.6, 1, 2)
    lts_pid.append(dp[direct])
    lts_start.append(dd[direct])
    lts_type.append(dtype_)
    # reablement
    sp, sd = dp[stmax], req[stmax] + rng.integers(0, 3, int(stmax.sum()))
    se = sd + rng.integers(14, 43, len(sp))
    died = se >= pop.death_day[sp]
    se = np.where(died, pop.death_day[sp], se)
    progress = ~died & (rng.random(len(sp)) < 0.3)
    s_out = np.where(
        died,
        "NFA - Deceased",
        np.where(progress, "Progression to Long Term Support", "Service ended as planned"),
    )
    se_out = np.where(se >= tl.end, NEVER, se)
    # A start a day or two after the request can fall after a death the request preceded: no
    # service starts then (it would end, at the death, before it started). Dropped after the
    # draws, so every other record of the town stays as it was.
    started = sd < pop.death_day[sp]
    add(
        sp[started],
        "Service",
        sd[started],
        se_out[started],
        None,
        np.where(se >= tl.end, None, s_out)[started].astype(object),
        codes.ST_MAX,
        "Reablement",
    )
    lts_pid.append(sp[progress])
    lts_start.append(se[progress] + rng.integers(0, 8, int(progress.sum())))
    lts_type.append(_rows_choice(rng, np.tile([0.8, 0.12, 0.08], (int(progress.sum()), 1))))
    # assessments, from discharge and from the community
    a_pid = [dp[assess]]
    a_day = [req[assess]]

    # community requests, and requests after sanctions
    rate = np.where(
        age >= 65,
        0.02 + 0.2 * pop.frail + 0.1 * pop.dementia,
        np.where(age >= 18, 0.04 * pop.mental + 0.02 * pop.substance + 0.004 * pop.ltc, 0.0),
    )
    rate = np.where(care_before < tl.start, 0.0, rate)
    c_pid, c_day = _poisson_days(rng, np.arange(n), rate, np.full(n, tl.start), alive_end)
    t_pid, t_day = _triggered(rng, sanctions["pid"], sanctions["day"], 0.03, 0, 89)
    ok = t_day < alive_end[t_pid]
    t_pid, t_day = t_pid[ok], t_day[ok]
    older = age[c_pid] >= 65
    c_route = np.where(
        older,
        _rows_choice(rng, np.tile([0, 0.82, 0.1, 0.08], (len(c_pid), 1))),
        _rows_choice(rng, np.tile([0, 0.9, 0, 0.1], (len(c_pid), 1))),
    )
    c_assess = rng.random(len(c_pid)) < 0.6
    add(
        c_pid,
        "Request",
        c_day,
        c_day,
        np.array(codes.ROUTES, dtype=object)[c_route],
        np.where(
            c_assess, "Progress to Assessment", "Universal Services/Signposted to other services"
        ).astype(object),
        None,
        None,
    )
    t_assess = rng.random(len(t_pid)) < 0.3
    add(
        t_pid,
        "Request",
        t_day,
        t_day,
        codes.ROUTES[1],
        np.where(
            t_assess, "Progress to Assessment", "Universal Services/Signposted to other services"
        ).astype(object),
        None,
        None,
        np.where(pop.mental[t_pid], codes.PSR[3], codes.PSR[6]).astype(object),
    )
    a_pid += [c_pid[c_assess], t_pid[t_assess]]
    a_day += [c_day[c_assess], t_day[t_assess]]
    ap = np.concatenate(a_pid)
    ad = np.concatenate(a_day) + rng.integers(1, 15, len(ap))
    ae = ad + rng.integers(0, 22, len(ap))
    ok = ad < alive_end[ap]
    ap, ad, ae = ap[ok], ad[ok], ae[ok]
    u = rng.random(len(ap))
    to_lts = u < 0.5
    a_out = np.where(
        to_lts,
        "Progress to Support Planning / Services",
        np.where(
            u < 0.75,
            "No services provided - needs not eligible",
            "Universal Services/Signposted to other services",
        ),
    )
    add(
        ap,
        "Assessment",
        ad,
        np.where(ae >= tl.end, NEVER, ae),
        None,
        np.where(ae >= tl.end, None, a_out).astype(object),
        None,
        None,
    )
    frail_old = (pop.age_at(ap, ad) >= 75) & pop.frail[ap]
    w = np.where(frail_old[:, None], [0.7, 0.2, 0.1], [0.92, 0.06, 0.02])
    lts_pid.append(ap[to_lts])
    lts_start.append(ae[to_lts] + rng.integers(1, 15, int(to_lts.sum())))
    lts_type.append(_rows_choice(rng, w[to_lts]))

    # long-term services that start in the period, and annual reviews of every one
    lp = np.concatenate(lts_pid)
    ls = np.concatenate(lts_start)
    lt = np.concatenate(lts_type)
    new = (ls >= tl.start) & (ls < alive_end[lp])
    service = np.array(
        [codes.LTS_COMMUNITY, codes.LTS_RESIDENTIAL, codes.LTS_NURSING], dtype=object
    )
    component = np.where(
        lt == 0,
        np.array(codes.COMMUNITY_COMPONENTS, dtype=object)[
            _rows_choice(rng, np.tile([0.6, 0.25, 0.1, 0.05], (len(lp), 1)))
        ],
        np.where(lt == 1, "Residential Care: Permanent", "Nursing Care: Permanent"),
    )
    ends = pop.death_day[lp] < tl.end
    add(
        lp[new],
        "Service",
        ls[new],
        np.where(ends, pop.death_day[lp], NEVER)[new],
        None,
        np.where(ends, "NFA - Deceased", None)[new].astype(object),
        service[lt[new]],
        component[new],
    )
    for year in range(1, tl.months // 12 + 6):
        rd = ls + 365 * year - np.where(ls < tl.start, 365 * ((tl.start - ls) // 365 + 1) - 365, 0)
        ok = (rd >= tl.start) & (rd < alive_end[lp]) & (ls < alive_end[lp])
        add(
            lp[ok],
            "Review",
            rd[ok],
            rd[ok],
            None,
            np.where(
                rng.random(int(ok.sum())) < 0.75,
                "No change in Long Term Support",
                "Change in Long Term Support",
            ).astype(object),
            service[lt[ok]],
            component[ok],
        )

    # permanent care-home admissions move the person and change their hospital codes
    care = lt > 0
    cp, cs, ct = lp[care], ls[care], lt[care]
    order = np.lexsort((cs, cp))
    cp, cs, ct = cp[order], cs[order], ct[order]
    first = np.ones(len(cp), dtype=bool)
    first[1:] = cp[1:] != cp[:-1]
    cp, cs, ct = cp[first], cs[first], ct[first]
    code = np.where(
        ct == 1,
        np.where(rng.random(len(cp)) < 0.4, "65", "85"),
        np.where(rng.random(len(cp)) < 0.2, "54", "85"),
    )
    pc_now = pop.postcode_at(cp, np.maximum(cs, tl.start))
    pop.move_into_care(cp, cs, place.care_homes_in_locality(place.pc_locality[pc_now], rng))
    care_day = np.full(n, NEVER)
    care_code = np.full(n, "19", dtype=object)
    care_day[cp] = cs
    care_code[cp] = code
    ap_, dayp = apc["pid"], apc["day"]
    resident = dayp > care_day[ap_]
    apc["admisorc"] = np.where(resident, care_code[ap_], apc["admisorc"])
    back = (apc["disdest"] == "19") & (resident | (apc["dis"] == care_day[ap_]))
    apc["disdest"] = np.where(back, care_code[ap_], apc["disdest"])
    e_res = (ecds["day"] > care_day[ecds["pid"]]) & (ecds["dest"] == codes.AE_HOME)
    ecds["dest"] = np.where(e_res, codes.AE_RESIDENTIAL, ecds["dest"])

    events = _concat(rows)
    ok = (events["day"] >= tl.start) & (events["day"] < tl.end)
    return _take(events, ok)
