-- One row per locality, age band (65+) and band of days from discharge to the first social
-- care request or service start (measure 4), over the whole period: discharges in the band and
-- their share of the locality and age band's discharges. Discharges of people who died in
-- hospital, and those with under 90 days of follow-up and no contact yet, are left out.
with days_bands as (
    select 1 as band_order, '0-2' as days_band
    union all select 2, '3-7'
    union all select 3, '8-28'
    union all select 4, '29-90'
    union all select 5, 'none within 90'
),

age_bands as (
    select '65-74' as age_band union all select '75-84' union all select '85+'
),

localities as (
    select distinct locality from {{ source('placelink', 'neighbourhoods') }}
),

discharges as (
    select locality, age_band, social_care_days_band as days_band
    from {{ ref('int_discharges') }}
    where age_at_admission >= 65
        and not died_in_hospital
        and social_care_days_band is not null
),

counted as (
    select locality, age_band, days_band, count(*) as discharges
    from discharges
    group by locality, age_band, days_band
),

totals as (
    select locality, age_band, count(*) as discharges_total
    from discharges
    group by locality, age_band
),

final as (
    select
        l.locality,
        a.age_band,
        b.days_band,
        b.band_order,
        cast(coalesce(c.discharges, 0) as bigint) as discharges,
        cast(coalesce(t.discharges_total, 0) as bigint) as discharges_total,
        {{ rate('coalesce(c.discharges, 0)', 't.discharges_total', 100) }} as percent
    from localities as l
    cross join age_bands as a
    cross join days_bands as b
    left join counted as c
        on c.locality = l.locality and c.age_band = a.age_band and c.days_band = b.days_band
    left join totals as t
        on t.locality = l.locality and t.age_band = a.age_band
)

select * from final
