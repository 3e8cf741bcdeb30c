-- One row per person, calendar month and service in which the person had an active event,
-- with the measure-11 domain needs seen that month. An event is active from its start month to
-- its end month; a service still running is active to the end of the period; anything else
-- without an end is active in its start month only. Only the services the measures are about
-- count: a source of another service is left out.
with recursive calendar as (
    select first_month_index as month_index, last_month_index from {{ ref('int_period') }}
    union all
    select month_index + 1, last_month_index from calendar where month_index < last_month_index
),

period as (
    select * from {{ ref('int_period') }}
),

spans as (
    select
        e.person_id,
        e.service,
        {{ month_index('e.event_start') }} as start_month,
        {{ month_index('case when e.is_ongoing then p.period_end
                             else coalesce(e.event_end, e.event_start) end') }} as end_month,
        e.is_health_need,
        e.is_social_care_support,
        e.is_homelessness_duty,
        e.is_income_need
    from {{ ref('int_events') }} as e
    cross join period as p
    where e.service in {{ known_services() }}
),

active as (
    select
        s.person_id,
        c.month_index,
        s.service,
        max({{ flag('s.is_health_need') }}) as health_need,
        max({{ flag('s.is_social_care_support') }}) as social_care_need,
        max({{ flag('s.is_homelessness_duty') }}) as housing_need,
        max({{ flag('s.is_income_need') }}) as income_need
    from spans as s
    inner join calendar as c on c.month_index between s.start_month and s.end_month
    group by s.person_id, c.month_index, s.service
),

final as (
    select
        person_id,
        month_index,
        {{ month_fy_start('month_index') }} as fy_start_year,
        {{ fy_label(month_fy_start('month_index')) }}
            as financial_year,
        service,
        health_need = 1 as health_need,
        social_care_need = 1 as social_care_need,
        housing_need = 1 as housing_need,
        income_need = 1 as income_need
    from active
)

select * from final
