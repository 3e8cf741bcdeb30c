-- One row per neighbourhood (with its deprivation quintile), financial year and number of
-- domains of need (1 to 4): people with needs in exactly that many domains in the year, and per
-- 1,000 residents aged 18+ (measure 11). A full grid, so empty cells are published suppressed.
with recursive domain_counts as (
    select 1 as domain_count
    union all
    select domain_count + 1 from domain_counts where domain_count < 4
),

people as (
    select neighbourhood, financial_year, domain_count, count(*) as people
    from {{ ref('integration_profile') }}
    where domain_count >= 1
    group by neighbourhood, financial_year, domain_count
),

final as (
    select
        g.neighbourhood,
        g.locality,
        g.deprivation_quintile,
        g.financial_year,
        d.domain_count,
        cast(coalesce(p.people, 0) as bigint) as people,
        cast(g.pop_18 as bigint) as population_18plus,
        {{ rate('coalesce(p.people, 0)', 'g.pop_18', 1000) }} as per_1000
    from {{ ref('int_neighbourhood_years') }} as g
    cross join domain_counts as d
    left join people as p
        on p.neighbourhood = g.neighbourhood
        and p.financial_year = g.financial_year
        and p.domain_count = d.domain_count
)

select * from final
