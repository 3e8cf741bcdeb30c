"""Code sets the extracts use; docs/extracts.md says where each comes from and marks local ones.

Each emergency category lists (ICD-10 primary, ICD-10 secondary) pairs, the treatment
specialties it goes to and the A&E chief complaint, with the mean length of stay in days.
"""

from __future__ import annotations

# HES APC (NHS Data Dictionary)
EMERGENCY_ADMIMETH = (
    ("21", 0.72),
    ("22", 0.1),
    ("2A", 0.03),
    ("23", 0.02),
    ("24", 0.04),
    ("28", 0.04),
    ("2B", 0.02),
    ("2D", 0.03),
)
ELECTIVE_ADMIMETH = (("11", 0.4), ("12", 0.45), ("13", 0.15))
CARE_HOME_CODES = ("54", "65", "85")

# category -> dict(diag, tret, complaint, los, icd for ECDS)
EMERGENCY = {
    "fall": dict(
        diag=(
            ("S720", "W190"),
            ("S721", "W010"),
            ("S525", "W010"),
            ("S422", "W100"),
            ("S098", "W060"),
            ("S720", "W199"),
            ("S324", "W180"),
        ),
        tret=("110", "110", "430"),
        complaint="1912002",
        los=11.0,
    ),
    "frailty": dict(
        diag=(
            ("R54X", "N390"),
            ("N390", "R54X"),
            ("R296", "R54X"),
            ("J189", "R54X"),
            ("E86X", "R54X"),
        ),
        tret=("430", "430", "300"),
        complaint="13791008",
        los=9.0,
    ),
    "mental": dict(
        diag=(("F329", ""), ("F411", ""), ("F209", ""), ("F259", ""), ("F431", ""), ("F603", "")),
        tret=("710", "710", "300"),
        complaint="366979004",
        los=16.0,
    ),
    "substance": dict(
        diag=(("F100", ""), ("F102", "K703"), ("F112", ""), ("F191", ""), ("K703", "F102")),
        tret=("300", "300", "710"),
        complaint="25702006",
        los=3.0,
    ),
    "self_harm": dict(
        diag=(("T391", "X600"), ("T430", "X610"), ("T424", "X620"), ("S518", "X780")),
        tret=("300", "710"),
        complaint="248062006",
        los=1.5,
    ),
    "medical": dict(
        diag=(
            ("J189", ""),
            ("J441", ""),
            ("I500", ""),
            ("N390", ""),
            ("R074", ""),
            ("I639", ""),
            ("I214", ""),
            ("K359", ""),
            ("A099", ""),
            ("L031", ""),
            ("R101", ""),
            ("E119", ""),
        ),
        tret=("300", "300", "320", "340", "100"),
        complaint="29857009",
        los=4.5,
    ),
    "child": dict(
        diag=(("J219", ""), ("J069", ""), ("R509", ""), ("A099", ""), ("J459", "")),
        tret=("420",),
        complaint="386661006",
        los=1.2,
    ),
}
EMERGENCY_CATEGORIES = tuple(EMERGENCY)
TERMINAL_DIAG = (
    ("J189", "R54X"),
    ("I500", ""),
    ("C349", ""),
    ("J441", ""),
    ("I639", ""),
    ("N179", ""),
)
ELECTIVE = (
    ("H269", "130"),
    ("M179", "110"),
    ("M169", "110"),
    ("K802", "100"),
    ("N40X", "101"),
    ("Z511", "370"),
    ("K429", "100"),
    ("C509", "103"),
)

# ECDS: SNOMED CT concept ids for the diagnosis, from the ICD-10 code each episode carries
ICD_TO_SNOMED = {
    "S720": "5913000",
    "S721": "5913000",
    "S525": "125605004",
    "S422": "125605004",
    "S098": "82271004",
    "S324": "125605004",
    "R54X": "248279007",
    "N390": "68566005",
    "R296": "1912002",
    "J189": "233604007",
    "E86X": "34095006",
    "F329": "35489007",
    "F411": "197480006",
    "F209": "58214004",
    "F259": "69322001",
    "F431": "47505003",
    "F603": "192527004",
    "F100": "25702006",
    "F102": "7200002",
    "F112": "75544000",
    "F191": "26416006",
    "K703": "7200002",
    "T391": "55680006",
    "T430": "55680006",
    "T424": "55680006",
    "S518": "312608009",
    "J441": "13645005",
    "I500": "84114007",
    "R074": "29857009",
    "I639": "230690007",
    "I214": "22298006",
    "K359": "85189001",
    "A099": "25374005",
    "L031": "128045006",
    "R101": "21522001",
    "E119": "44054006",
    "J219": "4120002",
    "J069": "54150009",
    "R509": "386661006",
    "J459": "195967001",
    "S934": "44465007",
    "S610": "312608009",
    "S099": "82271004",
    "S626": "125605004",
    "T140": "125667009",
    "R69X": "281900007",
    "R51X": "25064002",
    "C349": "363358000",
    "N179": "14669001",
}
# A&E attendances not admitted: (ICD-10, chief complaint SNOMED CT)
AE_MINOR = {
    "injury": (
        ("S934", "417746004"),
        ("S610", "417746004"),
        ("S099", "82271004"),
        ("S626", "417746004"),
        ("T140", "417746004"),
        ("S525", "417746004"),
    ),
    "medical": (
        ("R074", "29857009"),
        ("R101", "21522001"),
        ("R51X", "25064002"),
        ("J069", "49727002"),
        ("N390", "367391008"),
        ("R69X", "367391008"),
    ),
    "mental": (("F411", "48694002"), ("F329", "6471006"), ("F209", "366979004")),
    "substance": (("F100", "25702006"), ("F191", "25702006"), ("F102", "25702006")),
    "self_harm": (("T391", "248062006"), ("S518", "248062006")),
    "child": (
        ("R509", "386661006"),
        ("J069", "49727002"),
        ("S099", "82271004"),
        ("A099", "367391008"),
    ),
    "fall": (("S099", "1912002"), ("T140", "1912002"), ("R296", "1912002")),
}
AE_CATEGORIES = tuple(AE_MINOR)
# ECDS discharge destinations (SNOMED CT procedures)
AE_HOME, AE_WARD, AE_TRANSFER, AE_RESIDENTIAL, AE_LEFT = (
    "306689006",
    "306706006",
    "19712007",
    "306691003",
    "50861005",
)
# local arrival modes
ARRIVAL_MODES = ("ambulance", "own_transport", "public_transport", "police", "walk_in")

# Adult social care (CLD-like)
ROUTES = (
    "Discharge from Hospital",
    "Community / Other route",
    "Self-Funder with Depleted Funds",
    "Diversion from Hospital Services",
)
ST_MAX = "Short Term Support: ST-Max"
LTS_COMMUNITY = "Long Term Support: Community"
LTS_RESIDENTIAL = "Long Term Support: Residential Care"
LTS_NURSING = "Long Term Support: Nursing Care"
PSR = (
    "Physical Support: Personal Care Support",
    "Physical Support: Access and Mobility Only",
    "Support with Memory and Cognition",
    "Mental Health Support",
    "Learning Disability Support",
    "Social Support: Substance Misuse Support",
    "Social Support: Support for Social Isolation/Other",
)
COMMUNITY_COMPONENTS = ("Home Support", "Direct Payment", "Day Care", "Supported Living")

# Housing (H-CLIC-like, snake_case)
REASONS = (
    ("end_of_private_rented_tenancy_ast", 0.25),
    ("family_or_friends_no_longer_willing_or_able_to_accommodate", 0.23),
    ("domestic_abuse", 0.09),
    ("non_violent_relationship_breakdown_with_partner", 0.1),
    ("eviction_from_supported_housing", 0.03),
    ("end_of_social_rented_tenancy", 0.06),
    ("left_institution_with_no_accommodation", 0.04),
    ("required_to_leave_home_office_asylum_accommodation", 0.02),
    ("other_violence_or_harassment", 0.03),
    ("property_disrepair", 0.02),
    ("other", 0.13),
)
ACCOMMODATION = (
    "private_rented_sector",
    "social_rented_supported_housing",
    "living_with_family",
    "living_with_friends",
    "no_fixed_abode",
    "rough_sleeping",
    "owner_occupier",
    "other",
)
OUTCOMES = {
    "prevention": (
        ("secured_accommodation_for_6_months_or_more", 0.55),
        ("homeless_relief_duty_owed", 0.2),
        ("contact_lost", 0.1),
        ("withdrew_application", 0.08),
        ("56_days_elapsed", 0.07),
    ),
    "relief": (
        ("secured_accommodation_for_6_months_or_more", 0.45),
        ("56_days_elapsed_main_duty_decision", 0.3),
        ("contact_lost", 0.15),
        ("refused_final_accommodation", 0.05),
        ("withdrew_application", 0.05),
    ),
    "main": (
        ("accepted_social_housing_offer", 0.55),
        ("accepted_private_rented_offer", 0.25),
        ("refused_final_offer", 0.1),
        ("ceased_eligibility", 0.1),
    ),
}

# Benefits (UC statistics-like)
HOUSEHOLD_TYPES = (
    "Single, no child dependant",
    "Single, with child dependant(s)",
    "Couple, no child dependant",
    "Couple, with child dependant(s)",
)
SANCTION_REASONS = (
    ("Failure to attend or participate in a work-search interview", 0.55),
    ("Failure to meet the work search requirement", 0.15),
    ("Failure to meet the work availability requirement", 0.08),
    ("Failure to undertake a work preparation requirement", 0.12),
    ("Leaving paid work voluntarily or through misconduct", 0.06),
    ("Failure to apply for a particular vacancy", 0.04),
)
SANCTION_DAYS = ((7, 0.25), (14, 0.3), (28, 0.25), (91, 0.15), (182, 0.05))
# UC monthly amounts by financial year 2023/24, 2024/25, 2025/26 (GBP, approximate)
UC_SINGLE_25 = (368.74, 393.45, 400.14)
UC_SINGLE_U25 = (292.11, 311.68, 316.98)
UC_COUPLE = (578.82, 617.60, 628.10)
UC_CHILD = (315.00, 333.33, 339.00)
UC_LCWRA = (390.06, 416.19, 423.27)
UC_WORK_ALLOWANCE = (379.0, 404.0, 411.0)
