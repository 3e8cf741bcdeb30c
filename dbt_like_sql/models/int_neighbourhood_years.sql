-- One row per neighbourhood and financial year of the period: the grid that the aggregate
-- measures fill, with the resident population (all ages, 65+, 18+) of that year.
with recursive financial_years as (
    select
        {{ fy_start_year('period_start') }} as fy_start_year,
        {{ fy_start_year('period_end') }} as last_fy_start_year
    from {{ ref('int_period') }}
    union all
    select fy_start_year + 1, last_fy_start_year
    from financial_years
    where fy_start_year < last_fy_start_year
),

population as (
    select
        neighbourhood,
        cast(year as integer) as fy_start_year,
        sum(population) as pop_all,
        sum(case when age_band in ('65-74', '75-84', '85+') then population else 0 end)
            as pop_65,
        sum(case when age_band <> '0-17' then population else 0 end) as pop_18
    from {{ source('placelink', 'population') }}
    group by neighbourhood, cast(year as integer)
),

final as (
    select
        n.neighbourhood,
        n.locality,
        {{ quintile('n.imd_decile') }} as deprivation_quintile,
        y.fy_start_year,
        {{ fy_label('y.fy_start_year') }} as financial_year,
        p.pop_all,
        p.pop_65,
        p.pop_18
    from {{ source('placelink', 'neighbourhoods') }} as n
    cross join financial_years as y
    left join population as p
        on p.neighbourhood = n.neighbourhood and p.fy_start_year = y.fy_start_year
)

select * from final
