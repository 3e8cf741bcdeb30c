-- One row per homelessness approach or benefit sanction, with the person's contacts with other
-- services in the 90 days before (days -90 to -1) and after (days 0 to 90) (measures 9 and 10).
with period as (
    select * from {{ ref('int_period') }}
),

approaches as (
    select
        'housing:' || record_id as crisis_id,
        'homelessness approach' as crisis_type,
        'housing' as source,
        record_id,
        person_id,
        approach_date as crisis_date,
        age_at_event, sex, neighbourhood, locality, imd_decile,
        duty,
        has_mental_health_need,
        cast(null as varchar) as sanction_reason,
        cast(null as integer) as sanction_days
    from {{ ref('stg_housing') }}
    where approach_date is not null
),

sanctions as (
    select
        'benefits:' || record_id,
        'sanction',
        'benefits',
        record_id,
        person_id,
        sanction_start,
        age_at_event, sex, neighbourhood, locality, imd_decile,
        cast(null as varchar),
        false,
        sanction_reason,
        sanction_days
    from {{ ref('stg_benefits') }}
    where is_new_sanction
),

crises as (
    select * from approaches
    union all
    select * from sanctions
),

contacts as (
    select
        c.crisis_id,
        e.event_start - c.crisis_date as offset_days,
        e.is_ae_attendance,
        e.is_mental_health_admission,
        e.service = 'health' and e.is_contact as is_health_contact,
        e.source = 'housing' as is_homelessness_approach,
        e.event_type = 'request' as is_social_care_request
    from crises as c
    inner join {{ ref('int_events') }} as e
        on e.person_id = c.person_id
        and e.event_start - c.crisis_date between -90 and 90
        and not (e.source = c.source and e.record_id = c.record_id)
),

counted as (
    select
        crisis_id,
        {% for name, condition in [
            ('ae_attendances', 'is_ae_attendance'),
            ('mental_health_admissions', 'is_mental_health_admission'),
            ('health_contacts', 'is_health_contact'),
            ('homelessness_approaches', 'is_homelessness_approach'),
            ('social_care_requests', 'is_social_care_request'),
        ] %}
        sum({{ flag(condition ~ ' and offset_days < 0') }}) as {{ name }}_before_90,
        sum({{ flag(condition ~ ' and offset_days >= 0') }}) as {{ name }}_after_90{{ "," if not loop.last }}
        {% endfor %}
    from contacts
    group by crisis_id
),

final as (
    select
        c.crisis_id,
        c.crisis_type,
        c.person_id,
        c.crisis_date,
        {{ financial_year('c.crisis_date') }} as financial_year,
        c.age_at_event,
        {{ age_band('c.age_at_event') }} as age_band,
        c.sex,
        c.neighbourhood,
        c.locality,
        c.imd_decile,
        c.duty,
        c.has_mental_health_need,
        c.sanction_reason,
        c.sanction_days,
        coalesce(n.ae_attendances_before_90, 0) as ae_attendances_before_90,
        coalesce(n.ae_attendances_after_90, 0) as ae_attendances_after_90,
        coalesce(n.mental_health_admissions_before_90, 0) as mental_health_admissions_before_90,
        coalesce(n.mental_health_admissions_after_90, 0) as mental_health_admissions_after_90,
        coalesce(n.health_contacts_before_90, 0) as health_contacts_before_90,
        coalesce(n.health_contacts_after_90, 0) as health_contacts_after_90,
        coalesce(n.homelessness_approaches_before_90, 0) as homelessness_approaches_before_90,
        coalesce(n.homelessness_approaches_after_90, 0) as homelessness_approaches_after_90,
        coalesce(n.social_care_requests_before_90, 0) as social_care_requests_before_90,
        coalesce(n.social_care_requests_after_90, 0) as social_care_requests_after_90,
        -- Both windows inside the period the extracts cover, so the counts are complete.
        c.crisis_date - p.period_start >= 90 and p.period_end - c.crisis_date >= 90
            as windows_complete,
        case
            when not c.has_mental_health_need then false
            when coalesce(n.health_contacts_after_90, 0) > 0 then false
            when p.period_end - c.crisis_date >= 90 then true
        end as mental_health_need_no_health_contact
    from crises as c
    cross join period as p
    left join counted as n on n.crisis_id = c.crisis_id
)

select * from final
