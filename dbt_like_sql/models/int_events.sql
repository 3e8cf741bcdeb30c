-- Every source's records in one event shape, with the domain flags the measures read. Each
-- declared source with an event has a branch: the five demo sources their hand-written ones,
-- with their domain flags; any other source one generated from its sources.yaml entry (its
-- service, its event's type, start and end; every flag false). Identity-only sources have none.
{%- set hand_written = declared_sources | selectattr('hand_written') | map(attribute='name') | list %}
{%- set generated = declared_sources | rejectattr('hand_written') | selectattr('event') | list %}
{%- set columns = [
    'person_id', 'source', 'record_id', 'service', 'event_type', 'event_start', 'event_end',
    'extract_month', 'age_at_event', 'sex', 'neighbourhood', 'locality', 'imd_decile',
    'is_contact', 'is_admission', 'is_emergency_admission', 'is_fall_admission',
    'is_ae_attendance', 'is_mental_health', 'is_substance', 'is_self_harm',
    'is_social_care_contact', 'is_social_care_support', 'is_st_max', 'is_permanent_care',
    'is_ongoing', 'is_homelessness_duty', 'has_mental_health_need', 'is_sanction',
    'is_income_need', 'death_date',
] %}
with
{% if 'health_apc' in hand_written %}
health_apc as (
    select
        person_id,
        'health_apc' as source,
        record_id,
        'health' as service,
        case when is_first_episode then 'admission' else 'episode' end as event_type,
        admission_date as event_start,
        discharge_date as event_end,
        extract_month, age_at_event, sex, neighbourhood, locality, imd_decile,
        is_first_episode as is_contact,
        is_first_episode as is_admission,
        is_first_episode and is_emergency as is_emergency_admission,
        is_first_episode and is_fall as is_fall_admission,
        false as is_ae_attendance,
        is_mental_health, is_substance, is_self_harm,
        false as is_social_care_contact, false as is_social_care_support,
        false as is_st_max, false as is_permanent_care, false as is_ongoing,
        false as is_homelessness_duty, false as has_mental_health_need,
        false as is_sanction, false as is_income_need,
        case when died then discharge_date end as death_date
    from {{ ref('stg_health_apc') }}
),
{% endif %}
{% if 'health_ecds' in hand_written %}
health_ecds as (
    select
        person_id, 'health_ecds', record_id, 'health', 'attendance',
        arrival_date, arrival_date,
        extract_month, age_at_event, sex, neighbourhood, locality, imd_decile,
        true, false, false, false,
        true,
        is_mental_health, is_substance, is_self_harm,
        false, false, false, false, false,
        false, false,
        false, false,
        case when died then arrival_date end
    from {{ ref('stg_health_ecds') }}
),
{% endif %}
{% if 'social_care' in hand_written %}
social_care as (
    select
        person_id, 'social_care', record_id, 'social_care', event_type,
        event_start, event_end,
        extract_month, age_at_event, sex, neighbourhood, locality, imd_decile,
        true, false, false, false,
        false,
        false, false, false,
        is_request or is_service,
        is_long_term_support or is_short_term_support,
        is_st_max, is_permanent_care,
        -- A service with no end date is still being delivered.
        is_service and event_end is null,
        false, false,
        false, false,
        case when died then event_start end
    from {{ ref('stg_social_care') }}
),
{% endif %}
{% if 'housing' in hand_written %}
housing as (
    select
        person_id, 'housing', record_id, 'housing', 'approach',
        approach_date, outcome_date,
        extract_month, age_at_event, sex, neighbourhood, locality, imd_decile,
        true, false, false, false,
        false,
        false, false, false,
        false, false, false, false, false,
        has_duty, has_mental_health_need,
        false, false,
        cast(null as date)
    from {{ ref('stg_housing') }}
),
{% endif %}
{% if 'benefits' in hand_written %}
benefits as (
    select
        person_id, 'benefits', record_id, 'benefits',
        case
            when is_new_sanction then 'sanction'
            when is_new_claim then 'claim start'
            else 'claim month'
        end,
        case when is_new_sanction then sanction_start else assessment_period_start end,
        cast(null as date),
        extract_month, age_at_event, sex, neighbourhood, locality, imd_decile,
        -- Routine claim-months are a state, not a contact; a new claim or sanction is.
        is_new_claim or is_new_sanction, false, false, false,
        false,
        false, false, false,
        false, false, false, false, false,
        false, false,
        is_new_sanction,
        is_sanctioned or housing_element_no_earnings,
        cast(null as date)
    from {{ ref('stg_benefits') }}
),
{% endif %}
{% for src in generated %}
{{ src.name }}_events as (
    select
        person_id, '{{ src.name }}', record_id, '{{ src.service }}',
        {% if src.event.type %}lower(trim({{ quoted(src.event.type) }})){% else %}'{{ src.name }}'{% endif %},
        {{ quoted(src.event.start) }},
        {% if src.event.end %}{{ quoted(src.event.end) }}{% else %}cast(null as date){% endif %},
        extract_month, age_at_event, sex, neighbourhood, locality, imd_decile,
        false, false, false, false,
        false,
        false, false, false,
        false, false, false, false, false,
        false, false,
        false, false,
        cast(null as date)
    from {{ ref('stg_' ~ src.name) }}
),
{% endfor %}
-- Branches line up by position; the names are these.
unioned ({{ columns | join(', ') }}) as (
    {%- for src in declared_sources | selectattr('event') %}
    {% if not loop.first %}union all {% endif %}select * from {{ src.name }}{{ '' if src.hand_written else '_events' }}
    {%- else %}
    -- Identity-only sources alone: no events, in the events' types.
    select
        cast(null as bigint), cast(null as varchar), cast(null as varchar),
        cast(null as varchar), cast(null as varchar), cast(null as date), cast(null as date),
        cast(null as varchar), cast(null as integer), cast(null as varchar),
        cast(null as varchar), cast(null as varchar), cast(null as integer),
        {%- for _ in range(17) %}
        cast(null as boolean),
        {%- endfor %}
        cast(null as date)
    where 1 = 0
    {%- endfor %}
),

final as (
    select
        person_id,
        source,
        record_id,
        service,
        event_type,
        event_start,
        event_end,
        extract_month,
        age_at_event,
        {{ age_band('age_at_event') }} as age_band,
        sex,
        neighbourhood,
        locality,
        imd_decile,
        {{ financial_year('event_start') }} as financial_year,
        is_contact,
        is_admission,
        is_emergency_admission,
        is_fall_admission,
        is_ae_attendance,
        coalesce(is_mental_health, false) as is_mental_health,
        coalesce(is_substance, false) as is_substance,
        coalesce(is_self_harm, false) as is_self_harm,
        coalesce(is_mental_health or is_substance or is_self_harm, false) as is_health_need,
        is_admission and coalesce(is_mental_health, false) as is_mental_health_admission,
        coalesce(is_social_care_contact, false) as is_social_care_contact,
        coalesce(is_social_care_support, false) as is_social_care_support,
        coalesce(is_st_max, false) as is_st_max,
        coalesce(is_permanent_care, false) as is_permanent_care,
        coalesce(is_ongoing, false) as is_ongoing,
        coalesce(is_homelessness_duty, false) as is_homelessness_duty,
        coalesce(has_mental_health_need, false) as has_mental_health_need,
        coalesce(is_sanction, false) as is_sanction,
        coalesce(is_income_need, false) as is_income_need,
        death_date
    from unioned
    where event_start is not null
)

select * from final
