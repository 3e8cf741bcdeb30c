-- One row per person and financial year in which they were active: the domains of need
-- (measure 11) and the seams between services (measure 12).
with months as (
    select * from {{ ref('int_person_months') }}
),

events as (
    select * from {{ ref('int_events') }}
),

month_services as (
    select person_id, financial_year, month_index, count(distinct service) as services
    from months
    group by person_id, financial_year, month_index
),

concurrency as (
    select
        person_id,
        financial_year,
        count(*) as months_active,
        sum({{ flag('services >= 2') }}) as concurrent_months
    from month_services
    group by person_id, financial_year
),

needs as (
    select
        person_id,
        financial_year,
        count(distinct service) as services_used,
        max({{ flag('health_need') }}) = 1 as health_need,
        max({{ flag('social_care_need') }}) = 1 as social_care_need,
        max({{ flag('housing_need') }}) = 1 as housing_need,
        max({{ flag('income_need') }}) = 1 as income_need
    from months
    group by person_id, financial_year
),

place as (
    select
        person_id, financial_year, age_at_event, sex, neighbourhood, locality, imd_decile,
        row_number() over (
            partition by person_id, financial_year
            order by case when neighbourhood is null then 1 else 0 end,
                     event_start desc, source, record_id
        ) as rn
    from events
),

-- A hand-off is a contact in one service starting within 28 days after a contact in another
-- service started or ended; each receiving contact counts once.
handoffs as (
    select e.person_id, e.financial_year, count(distinct e.source || ':' || e.record_id) as handoffs
    from events as e
    inner join events as f
        on f.person_id = e.person_id
        and f.service <> e.service
        and f.is_contact
        and f.event_start <= e.event_start
        and e.event_start - coalesce(f.event_end, f.event_start) between 0 and 28
    where e.is_contact
    group by e.person_id, e.financial_year
),

discharge_gaps as (
    select person_id, financial_year, sum({{ flag('social_care_gap') }}) as gaps
    from {{ ref('int_discharges') }}
    group by person_id, financial_year
),

homelessness_gaps as (
    select
        person_id,
        financial_year,
        sum({{ flag('coalesce(mental_health_need_no_health_contact, false)') }}) as gaps
    from {{ ref('crisis_pathways') }}
    where crisis_type = 'homelessness approach'
    group by person_id, financial_year
),

final as (
    select
        n.person_id,
        n.financial_year,
        {{ age_band('p.age_at_event') }} as age_band,
        p.sex,
        p.neighbourhood,
        p.locality,
        p.imd_decile,
        {{ quintile('p.imd_decile') }} as deprivation_quintile,
        n.health_need,
        n.social_care_need,
        n.housing_need,
        n.income_need,
        {{ flag('n.health_need') }} + {{ flag('n.social_care_need') }}
            + {{ flag('n.housing_need') }} + {{ flag('n.income_need') }} as domain_count,
        n.services_used,
        c.months_active,
        c.concurrent_months,
        coalesce(h.handoffs, 0) as handoffs,
        coalesce(dg.gaps, 0) as discharge_gaps,
        coalesce(hg.gaps, 0) as homelessness_gaps,
        coalesce(dg.gaps, 0) + coalesce(hg.gaps, 0) as gaps
    from needs as n
    inner join concurrency as c
        on c.person_id = n.person_id and c.financial_year = n.financial_year
    left join place as p
        on p.person_id = n.person_id and p.financial_year = n.financial_year and p.rn = 1
    left join handoffs as h
        on h.person_id = n.person_id and h.financial_year = n.financial_year
    left join discharge_gaps as dg
        on dg.person_id = n.person_id and dg.financial_year = n.financial_year
    left join homelessness_gaps as hg
        on hg.person_id = n.person_id and hg.financial_year = n.financial_year
)

select * from final
