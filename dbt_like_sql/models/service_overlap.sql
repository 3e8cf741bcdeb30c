-- One row per locality and combination of services (the UpSet chart's data): people whose
-- services over the whole period were exactly that combination, on a full grid of the 15
-- non-empty combinations.
with flags as (
    select 1 as used union all select 0
),

combinations as (
    select
        h.used as health,
        s.used as social_care,
        o.used as housing,
        b.used as benefits
    from flags as h
    cross join flags as s
    cross join flags as o
    cross join flags as b
    where h.used + s.used + o.used + b.used > 0
),

localities as (
    select distinct locality from {{ source('placelink', 'neighbourhoods') }}
),

people as (
    select
        locality,
        {{ flag('uses_health') }} as health,
        {{ flag('uses_social_care') }} as social_care,
        {{ flag('uses_housing') }} as housing,
        {{ flag('uses_benefits') }} as benefits
    from {{ ref('person_spine') }}
    where locality is not null
),

counted as (
    select locality, health, social_care, housing, benefits, count(*) as people
    from people
    group by locality, health, social_care, housing, benefits
),

final as (
    select
        l.locality,
        substr(
            case when c.health = 1 then ' + health' else '' end
            || case when c.social_care = 1 then ' + social care' else '' end
            || case when c.housing = 1 then ' + housing' else '' end
            || case when c.benefits = 1 then ' + benefits' else '' end,
            4
        ) as combination,
        c.health + c.social_care + c.housing + c.benefits as services,
        c.health = 1 as health,
        c.social_care = 1 as social_care,
        c.housing = 1 as housing,
        c.benefits = 1 as benefits,
        coalesce(n.people, 0) as people
    from localities as l
    cross join combinations as c
    left join counted as n
        on n.locality = l.locality
        and n.health = c.health
        and n.social_care = c.social_care
        and n.housing = c.housing
        and n.benefits = c.benefits
)

select * from final
