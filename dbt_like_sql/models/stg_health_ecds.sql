-- A&E attendances, typed, one row per attendance (latest extract wins).
with source as (
    select * from {{ source('placelink', 'health_ecds') }}
),

latest as (
    {{ latest_versions() }}
),

typed as (
    select
        {{ record_columns() }},
        {{ to_date('arrival_date') }} as arrival_date,
        cast(arrival_time as varchar) as arrival_time,
        trim(cast(arrival_mode as varchar)) as arrival_mode,
        trim(cast(attendance_category as varchar)) as attendance_category,
        trim(cast(chief_complaint as varchar)) as chief_complaint,
        trim(cast(diagnosis as varchar)) as diagnosis_snomed,
        upper(trim(cast(diag_icd10 as varchar))) as diagnosis_icd10,
        trim(cast(discharge_destination as varchar)) as discharge_destination,
        trim(cast(department_type as varchar)) as department_type
    from latest
    where version_rank = 1
),

final as (
    select
        *,
        coalesce({{ icd_between(['diagnosis_icd10'], 'F20', 'F48') }}, false) as is_mental_health,
        coalesce({{ icd_between(['diagnosis_icd10'], 'F10', 'F19') }}, false) as is_substance,
        coalesce({{ icd_between(['diagnosis_icd10'], 'X60', 'X84') }}, false) as is_self_harm,
        -- SNOMED CT 305398007 |Admission to mortuary| in the ECDS discharge destination list.
        coalesce(discharge_destination = '305398007', false) as died
    from typed
)

select * from final
