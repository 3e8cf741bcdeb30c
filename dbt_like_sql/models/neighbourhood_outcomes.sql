-- One row per neighbourhood, financial year and measure (measures 1 to 11, long form), on a
-- full grid so that empty cells are published (as suppressed) rather than missing. The
-- measures' names, scale and wording come from this model's meta in schema.yml; below is how
-- each is counted: the CTE holding its numerator `n_<id>` and its denominator, either that
-- CTE's `d_<id>` or a population.
{%- set implementation = {
    '01': ('spells', 'pop_65'),
    '02': ('discharges', 'own'),
    '03a': ('discharges', 'own'),
    '03b': ('discharges', 'own'),
    '04a': ('discharges', 'own'),
    '04b': ('discharges', 'own'),
    '04c': ('discharges', 'own'),
    '04d': ('discharges', 'own'),
    '04e': ('discharges', 'own'),
    '05': ('discharges', 'own'),
    '06': ('care_admissions', 'pop_65'),
    '07': ('spells', 'pop_65'),
    '08': ('frequent_attenders', 'pop_all'),
    '09a': ('approaches', 'own'),
    '09b': ('approaches', 'own'),
    '09c': ('approaches', 'own'),
    '09d': ('approaches', 'own'),
    '09e': ('approaches', 'own'),
    '10a': ('sanctions', 'own'),
    '10b': ('sanctions', 'own'),
    '10c': ('sanctions', 'own'),
    '10d': ('sanctions', 'own'),
    '10e': ('sanctions', 'own'),
    '10f': ('sanctions', 'own'),
    '11a': ('disadvantage', 'pop_18'),
    '11b': ('disadvantage', 'pop_18'),
    '11c': ('disadvantage', 'pop_18'),
} %}
{%- set bands = [('04a', '0-2'), ('04b', '3-7'), ('04c', '8-28'), ('04d', '29-90'),
                 ('04e', 'none within 90')] %}
with grid as (
    select
        neighbourhood,
        locality,
        deprivation_quintile,
        financial_year,
        pop_all,
        pop_65,
        pop_18
    from {{ ref('int_neighbourhood_years') }}
),

spells as (
    select
        neighbourhood,
        admission_financial_year as financial_year,
        sum({{ flag('is_emergency and age_at_admission >= 65') }}) as n_01,
        sum({{ flag('is_emergency and is_fall and age_at_admission >= 65') }}) as n_07
    from {{ ref('int_spells') }}
    group by neighbourhood, admission_financial_year
),

discharges as (
    select
        neighbourhood,
        financial_year,
        sum({{ flag('age_at_admission >= 65 and admitted_from_usual_residence
                     and discharged_usual_residence') }}) as n_02,
        sum({{ flag('age_at_admission >= 65 and admitted_from_usual_residence') }}) as d_02,
        sum({{ flag('readmitted_within_30_days') }}) as n_03a,
        sum({{ flag('readmitted_within_30_days is not null') }}) as d_03a,
        sum({{ flag('age_at_admission >= 65 and readmitted_within_30_days') }}) as n_03b,
        sum({{ flag('age_at_admission >= 65 and readmitted_within_30_days is not null') }})
            as d_03b,
        {% for id, band in bands %}
        sum({{ flag("age_at_admission >= 65 and social_care_days_band = '" ~ band ~ "'") }})
            as n_{{ id }},
        sum({{ flag('age_at_admission >= 65 and social_care_days_band is not null') }})
            as d_{{ id }},
        {% endfor %}
        sum({{ flag('age_at_admission >= 65 and reablement_within_7_days
                     and at_home_on_day_91') }}) as n_05,
        sum({{ flag('age_at_admission >= 65 and reablement_within_7_days
                     and at_home_on_day_91 is not null') }}) as d_05
    from {{ ref('int_discharges') }}
    where not died_in_hospital
    group by neighbourhood, financial_year
),

-- A permanent admission is a person's first residential or nursing placement in the data.
first_placements as (
    select
        person_id, neighbourhood, financial_year, age_at_event,
        row_number() over (partition by person_id order by event_start, record_id) as rn
    from {{ ref('int_events') }}
    where is_permanent_care
),

care_admissions as (
    select neighbourhood, financial_year, sum({{ flag('age_at_event >= 65') }}) as n_06
    from first_placements
    where rn = 1
    group by neighbourhood, financial_year
),

attendances as (
    select person_id, financial_year, count(*) as attendances
    from {{ ref('int_events') }}
    where is_ae_attendance
    group by person_id, financial_year
),

frequent_attenders as (
    select p.neighbourhood, p.financial_year, count(*) as n_08
    from attendances as a
    inner join {{ ref('integration_profile') }} as p
        on p.person_id = a.person_id and p.financial_year = a.financial_year
    where a.attendances >= 5
    group by p.neighbourhood, p.financial_year
),

approaches as (
    select
        neighbourhood,
        financial_year,
        sum(ae_attendances_before_90) as n_09a,
        sum(ae_attendances_after_90) as n_09b,
        sum(mental_health_admissions_before_90) as n_09c,
        sum(mental_health_admissions_after_90) as n_09d,
        sum({{ flag('mental_health_need_no_health_contact') }}) as n_09e,
        {% for id in ['09a', '09b', '09c', '09d', '09e'] %}
        count(*) as d_{{ id }}{{ "," if not loop.last }}
        {% endfor %}
    from {{ ref('crisis_pathways') }}
    where crisis_type = 'homelessness approach' and windows_complete
    group by neighbourhood, financial_year
),

sanctions as (
    select
        neighbourhood,
        financial_year,
        sum(ae_attendances_before_90) as n_10a,
        sum(ae_attendances_after_90) as n_10b,
        sum(homelessness_approaches_before_90) as n_10c,
        sum(homelessness_approaches_after_90) as n_10d,
        sum(social_care_requests_before_90) as n_10e,
        sum(social_care_requests_after_90) as n_10f,
        {% for id in ['10a', '10b', '10c', '10d', '10e', '10f'] %}
        count(*) as d_{{ id }}{{ "," if not loop.last }}
        {% endfor %}
    from {{ ref('crisis_pathways') }}
    where crisis_type = 'sanction' and windows_complete
    group by neighbourhood, financial_year
),

disadvantage as (
    select
        neighbourhood,
        financial_year,
        sum({{ flag('domain_count = 2') }}) as n_11a,
        sum({{ flag('domain_count = 3') }}) as n_11b,
        sum({{ flag('domain_count = 4') }}) as n_11c
    from {{ ref('integration_profile') }}
    group by neighbourhood, financial_year
),

long_form as (
    {% for m in meta.measures %}
    {%- set cte, basis = implementation[m.id] %}
    select
        g.neighbourhood,
        g.locality,
        g.deprivation_quintile,
        g.financial_year,
        '{{ m.id }}' as measure_id,
        '{{ m.name }}' as measure,
        g.pop_all as population,
        coalesce(x.n_{{ m.id }}, 0) as numerator,
        {% if basis == 'own' -%}
        coalesce(x.d_{{ m.id }}, 0)
        {%- else -%}
        g.{{ basis }}
        {%- endif %} as denominator,
        {{ m.per }} as per
    from grid as g
    left join {{ cte }} as x
        on x.neighbourhood = g.neighbourhood and x.financial_year = g.financial_year
    {{ "union all" if not loop.last }}
    {% endfor %}
),

final as (
    select
        neighbourhood,
        locality,
        deprivation_quintile,
        financial_year,
        measure_id,
        measure,
        cast(population as bigint) as population,
        cast(numerator as bigint) as numerator,
        cast(denominator as bigint) as denominator,
        {{ rate('numerator', 'denominator', 'per') }} as rate,
        per
    from long_form
)

select * from final
