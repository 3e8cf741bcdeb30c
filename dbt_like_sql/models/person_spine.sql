-- One row per linked person: where and who they are as last seen, which sources hold them (any
-- source, identity-only ones too) and when they were first and last seen.
with links as (
    select person_id, count(*) as records_linked
    from {{ source('placelink', 'record_links') }}
    group by person_id
),

events as (
    select * from {{ ref('int_events') }}
),

people as (
    select person_id from links
    union
    select person_id from events
),

latest_place as (
    select
        person_id, neighbourhood, locality, imd_decile,
        row_number() over (
            partition by person_id
            order by case when neighbourhood is null then 1 else 0 end,
                     event_start desc, source, record_id
        ) as rn
    from events
),

latest_age as (
    select
        person_id, age_at_event, event_start,
        row_number() over (
            partition by person_id
            order by case when age_at_event is null then 1 else 0 end,
                     event_start desc, source, record_id
        ) as rn
    from events
),

latest_sex as (
    select
        person_id, sex,
        row_number() over (
            partition by person_id
            order by case when sex is null then 1 else 0 end, event_start desc, source, record_id
        ) as rn
    from events
),

sources as (
    select
        person_id,
        string_agg(source, ';' order by source) as sources_present,
        count(*) as n_sources
    from (select distinct person_id, source from {{ source('placelink', 'record_links') }}) as s
    group by person_id
),

activity as (
    select
        person_id,
        min(event_start) as first_seen,
        max(coalesce(event_end, event_start)) as last_seen,
        min(death_date) as date_of_death,
        max({{ flag("service = 'health'") }}) = 1 as uses_health,
        max({{ flag("service = 'social_care'") }}) = 1 as uses_social_care,
        max({{ flag("service = 'housing'") }}) = 1 as uses_housing,
        max({{ flag("service = 'benefits'") }}) = 1 as uses_benefits,
        count(*) as events
    from events
    group by person_id
),

final as (
    select
        p.person_id,
        {{ age_band('a.age_at_event') }} as age_band,
        x.sex,
        g.neighbourhood,
        g.locality,
        g.imd_decile,
        {{ quintile('g.imd_decile') }} as deprivation_quintile,
        v.date_of_death,
        s.sources_present,
        coalesce(s.n_sources, 0) as n_sources,
        coalesce(v.uses_health, false) as uses_health,
        coalesce(v.uses_social_care, false) as uses_social_care,
        coalesce(v.uses_housing, false) as uses_housing,
        coalesce(v.uses_benefits, false) as uses_benefits,
        coalesce(l.records_linked, 0) as records_linked,
        coalesce(v.events, 0) as events,
        v.first_seen,
        v.last_seen
    from people as p
    left join links as l on l.person_id = p.person_id
    left join latest_place as g on g.person_id = p.person_id and g.rn = 1
    left join latest_age as a on a.person_id = p.person_id and a.rn = 1
    left join latest_sex as x on x.person_id = p.person_id and x.rn = 1
    left join sources as s on s.person_id = p.person_id
    left join activity as v on v.person_id = p.person_id
)

select * from final
