-- One row per event of a linked person, in one shape across services, with each source's coded
-- fields (null where a field does not belong to the event's source) and the place at the time.
with events as (
    select * from {{ ref('int_events') }}
),

apc as (select * from {{ ref('stg_health_apc') }}),
ecds as (select * from {{ ref('stg_health_ecds') }}),
social_care as (select * from {{ ref('stg_social_care') }}),
housing as (select * from {{ ref('stg_housing') }}),
benefits as (select * from {{ ref('stg_benefits') }}),

final as (
    select
        e.person_id,
        e.source,
        e.record_id,
        e.service,
        e.event_type,
        e.event_start,
        e.event_end,
        e.financial_year,
        e.age_at_event,
        e.age_band,
        e.sex,
        e.neighbourhood,
        e.locality,
        e.imd_decile,
        apc.spell_id,
        apc.admission_method,
        apc.admission_source,
        coalesce(apc.discharge_destination, ecds.discharge_destination) as discharge_destination,
        apc.discharge_method,
        coalesce(apc.diagnosis_1, ecds.diagnosis_icd10) as diagnosis_1,
        apc.diagnosis_2,
        apc.diagnosis_3,
        apc.treatment_specialty,
        ecds.arrival_mode,
        ecds.attendance_category,
        ecds.chief_complaint,
        ecds.diagnosis_snomed,
        ecds.department_type,
        social_care.route_of_access,
        social_care.event_outcome,
        social_care.service_type,
        social_care.service_component,
        social_care.primary_support_reason,
        housing.duty,
        housing.reason_loss_settled_home,
        housing.support_needs,
        housing.accommodation_at_approach,
        housing.outcome,
        benefits.claim_id,
        benefits.household_type,
        benefits.housing_element,
        benefits.earnings,
        benefits.limited_capability_for_work,
        benefits.sanction_start,
        benefits.sanction_reason,
        benefits.sanction_days,
        benefits.award_amount,
        e.is_emergency_admission,
        e.is_fall_admission,
        e.is_mental_health,
        e.is_substance,
        e.is_self_harm,
        e.is_st_max,
        e.is_permanent_care,
        e.is_homelessness_duty,
        e.has_mental_health_need,
        e.is_sanction,
        e.is_income_need
    from events as e
    left join apc on e.source = 'health_apc' and apc.record_id = e.record_id
    left join ecds on e.source = 'health_ecds' and ecds.record_id = e.record_id
    left join social_care on e.source = 'social_care' and social_care.record_id = e.record_id
    left join housing on e.source = 'housing' and housing.record_id = e.record_id
    left join benefits on e.source = 'benefits' and benefits.record_id = e.record_id
)

select * from final
