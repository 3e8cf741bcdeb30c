-- Homelessness cases (H-CLIC-like), typed, one row per case (latest extract wins).
with source as (
    select * from {{ source('placelink', 'housing') }}
),

latest as (
    {{ latest_versions() }}
),

typed as (
    select
        {{ record_columns() }},
        {{ to_date('approach_date') }} as approach_date,
        lower(trim(cast(duty as varchar))) as duty,
        trim(cast(reason_loss_settled_home as varchar)) as reason_loss_settled_home,
        cast(support_needs as varchar) as support_needs,
        trim(cast(accommodation_at_approach as varchar)) as accommodation_at_approach,
        trim(cast(outcome as varchar)) as outcome,
        {{ to_date('outcome_date') }} as outcome_date
    from latest
    where version_rank = 1
),

final as (
    select
        *,
        coalesce(duty in ('prevention', 'relief', 'main'), false) as has_duty,
        coalesce(replace(lower(support_needs), '_', ' ') like '%mental health%', false)
            as has_mental_health_need
    from typed
)

select * from final
