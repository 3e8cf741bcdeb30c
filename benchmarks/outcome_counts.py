"""Print the demo town's count for every outcome of OUTCOMES.md; exit 1 if any is zero.

Usage: python benchmarks/outcome_counts.py [--warehouse data/warehouse/placelink.duckdb]
(after `make demo`).
"""

from __future__ import annotations

import argparse
import sys

import duckdb

CHECKS = {
    "person_spine: persons": "select count(*) from person_spine",
    "person_spine: deaths": "select count(date_of_death) from person_spine",
    "service_events: events": "select count(*) from service_events",
    "integration_profile: people with 2+ domains": (
        "select count(*) from integration_profile where domain_count >= 2"
    ),
    "integration_profile: concurrent months": (
        "select sum(concurrent_months) from integration_profile"
    ),
    "integration_profile: hand-offs": "select sum(handoffs) from integration_profile",
    "integration_profile: discharge gaps": ("select sum(discharge_gaps) from integration_profile"),
    "integration_profile: homelessness gaps": (
        "select sum(homelessness_gaps) from integration_profile"
    ),
    "discharge_pathways: readmitted within 30 days": (
        "select count(*) from discharge_pathways where readmitted_within_30_days"
    ),
    "discharge_pathways: reablement within 7 days": (
        "select count(*) from discharge_pathways where reablement_within_7_days"
    ),
    "discharge_pathways: at home on day 91": (
        "select count(*) from discharge_pathways where at_home_on_day_91"
    ),
    "crisis_pathways: homelessness approaches": (
        "select count(*) from crisis_pathways where crisis_type = 'homelessness approach'"
    ),
    "crisis_pathways: sanctions": (
        "select count(*) from crisis_pathways where crisis_type = 'sanction'"
    ),
    "service_overlap: people in all four services": (
        "select sum(people) from service_overlap where services = 4"
    ),
    "discharge_to_care_timeline: discharges": (
        "select sum(discharges) from discharge_to_care_timeline"
    ),
    "multiple_disadvantage: people": "select sum(people) from multiple_disadvantage",
    "linkage_quality: records": "select sum(records) from linkage_quality where subgroup = 'all'",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", default="data/warehouse/placelink.duckdb")
    args = parser.parse_args()
    con = duckdb.connect(args.warehouse, read_only=True)
    counts = {name: con.sql(sql).fetchall()[0][0] or 0 for name, sql in CHECKS.items()}
    measures = con.sql(
        "select measure_id || ' ' || measure, sum(numerator) from neighbourhood_outcomes "
        "group by 1 order by 1"
    ).fetchall()
    counts |= {f"neighbourhood_outcomes: measure {m}": n or 0 for m, n in measures}
    for name, count in counts.items():
        print(f"{count:>10,}  {name}")
    zero = [name for name, count in counts.items() if not count]
    print(f"{len(counts) - len(zero)} of {len(counts)} outcomes non-zero")
    return 1 if zero else 0


if __name__ == "__main__":
    sys.exit(main())
