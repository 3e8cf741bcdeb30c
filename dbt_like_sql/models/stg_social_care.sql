-- Adult social care events (CLD-like), typed, one row per event (latest extract wins).
with source as (
    select * from {{ source('placelink', 'social_care') }}
),

latest as (
    {{ latest_versions() }}
),

typed as (
    select
        {{ record_columns() }},
        lower(trim(cast(event_type as varchar))) as event_type,
        {{ to_date('event_start') }} as event_start,
        {{ to_date('event_end') }} as event_end,
        trim(cast(request_route_of_access as varchar)) as route_of_access,
        trim(cast(event_outcome as varchar)) as event_outcome,
        trim(cast(service_type as varchar)) as service_type,
        trim(cast(service_component as varchar)) as service_component,
        trim(cast(primary_support_reason as varchar)) as primary_support_reason
    from latest
    where version_rank = 1
),

final as (
    select
        *,
        coalesce(event_type = 'request', false) as is_request,
        coalesce(event_type = 'service', false) as is_service,
        coalesce(event_type = 'service' and lower(service_type) like 'long term support%', false)
            as is_long_term_support,
        coalesce(event_type = 'service' and lower(service_type) like 'short term support%', false)
            as is_short_term_support,
        coalesce(event_type = 'service' and lower(service_type) like '%st-max%', false)
            as is_st_max,
        coalesce(
            event_type = 'service' and lower(service_type) like 'long term support%'
                and (
                    lower(service_type) like '%residential%'
                    or lower(service_type) like '%nursing%'
                ),
            false
        ) as is_permanent_care,
        coalesce(lower(primary_support_reason) like '%mental health%', false)
            as is_mental_health_support,
        coalesce(lower(event_outcome) like '%deceased%', false) as died
    from typed
)

select * from final
