-- One row per discharge of a person aged 65+ on admission: destination, social care after
-- discharge, reablement, readmission and the day-91 outcome (measures 2 to 5).
with discharges as (
    select * from {{ ref('int_discharges') }}
),

final as (
    select
        spell_id,
        person_id,
        admission_date,
        discharge_date,
        financial_year,
        age_at_admission,
        age_band,
        sex,
        neighbourhood,
        locality,
        imd_decile,
        admission_method,
        is_emergency,
        admission_source,
        admitted_from_usual_residence,
        discharge_destination,
        discharge_method,
        destination_group,
        discharged_usual_residence,
        died_in_hospital,
        first_social_care_date,
        days_to_social_care,
        social_care_days_band,
        social_care_gap,
        reablement_start,
        reablement_within_7_days,
        readmission_date,
        days_to_readmission,
        readmitted_within_30_days,
        in_hospital_on_day_91,
        in_permanent_care_on_day_91,
        at_home_on_day_91,
        date_of_death,
        died_within_91_days,
        follow_up_days
    from discharges
    where age_at_admission >= 65
)

select * from final
