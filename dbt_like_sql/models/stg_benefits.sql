-- Universal Credit claim-months, typed, one row per claim-month, with the sanction that starts
-- in it and the housing-element-without-earnings flag.
with source as (
    select * from {{ source('placelink', 'benefits') }}
),

latest as (
    {{ latest_versions() }}
),

typed as (
    select
        {{ record_columns() }},
        cast(claim_id as varchar) as claim_id,
        {{ to_date('assessment_period_start') }} as assessment_period_start,
        trim(cast(household_type as varchar)) as household_type,
        coalesce({{ to_float('housing_element') }}, 0) as housing_element,
        coalesce({{ to_float('earnings') }}, 0) as earnings,
        {{ to_bool('lcw') }} as limited_capability_for_work,
        {{ to_date('sanction_start') }} as sanction_start,
        trim(cast(sanction_reason as varchar)) as sanction_reason,
        {{ to_int('sanction_days') }} as sanction_days,
        {{ to_float('award_amount') }} as award_amount
    from latest
    where version_rank = 1
),

ranked as (
    select
        *,
        row_number() over (
            partition by claim_id order by assessment_period_start, record_id
        ) as claim_month_order,
        -- A sanction repeats on every claim-month it spans; its first claim-month carries it.
        row_number() over (
            partition by person_id, sanction_start order by assessment_period_start, record_id
        ) as sanction_order
    from typed
),

final as (
    select
        person_id,
        record_id,
        extract_month,
        age_at_event,
        sex,
        lsoa,
        neighbourhood,
        locality,
        imd_decile,
        claim_id,
        assessment_period_start,
        household_type,
        housing_element,
        earnings,
        limited_capability_for_work,
        sanction_start,
        sanction_reason,
        sanction_days,
        award_amount,
        claim_month_order = 1 as is_new_claim,
        sanction_start is not null as is_sanctioned,
        sanction_start is not null and sanction_order = 1 as is_new_sanction,
        housing_element > 0 and earnings = 0 as housing_element_no_earnings
    from ranked
)

select * from final
