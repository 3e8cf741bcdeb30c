-- One row per neighbourhood (with its deprivation quintile), financial year and number of
-- domains of need (1 to 4): people with needs in exactly that many domains in the year, and per
-- 1,000 residents aged 18+ (measure 11). A full grid, so empty cells are published suppressed.
with recursive domain_counts as (
    select 1 as domain_count
    union all
    select domain_count + 1 from domain_counts where domain_count < 4
),

financial_years as (
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
        sum(case when age_band <> '0-17' then population else 0 end) as population_18plus
    from {{ source('placelink', 'population') }}
    group by neighbourhood, cast(year as integer)
),

people as (
    select neighbourhood, financial_year, domain_count, count(*) as people
    from {{ ref('integration_profile') }}
    where domain_count >= 1
    group by neighbourhood, financial_year, domain_count
),

final as (
    select
        n.neighbourhood,
        n.locality,
        {{ quintile('n.imd_decile') }} as deprivation_quintile,
        {{ fy_label('y.fy_start_year') }} as financial_year,
        d.domain_count,
        cast(coalesce(p.people, 0) as bigint) as people,
        cast(pop.population_18plus as bigint) as population_18plus,
        {{ rate('coalesce(p.people, 0)', 'pop.population_18plus', 1000) }} as per_1000
    from {{ source('placelink', 'neighbourhoods') }} as n
    cross join financial_years as y
    cross join domain_counts as d
    left join population as pop
        on pop.neighbourhood = n.neighbourhood and pop.fy_start_year = y.fy_start_year
    left join people as p
        on p.neighbourhood = n.neighbourhood
        and p.financial_year = {{ fy_label('y.fy_start_year') }}
        and p.domain_count = d.domain_count
)

select * from final
