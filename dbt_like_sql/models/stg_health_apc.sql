-- Inpatient episodes, typed, one row per episode (latest extract wins), with HES code flags.
with source as (
    select * from {{ source('placelink', 'health_apc') }}
),

latest as (
    {{ latest_versions() }}
),

typed as (
    select
        {{ record_columns() }},
        {{ to_date('admidate') }} as admission_date,
        {{ to_date('epistart') }} as episode_start,
        {{ to_date('epiend') }} as episode_end,
        {{ to_date('disdate') }} as discharge_date,
        upper(trim(cast(admimeth as varchar))) as admission_method,
        trim(cast(admisorc as varchar)) as admission_source,
        trim(cast(disdest as varchar)) as discharge_destination,
        trim(cast(dismeth as varchar)) as discharge_method,
        upper(trim(cast(diag_4_01 as varchar))) as diagnosis_1,
        upper(trim(cast(diag_4_02 as varchar))) as diagnosis_2,
        upper(trim(cast(diag_4_03 as varchar))) as diagnosis_3,
        trim(cast(tretspef as varchar)) as treatment_specialty
    from latest
    where version_rank = 1
),

spells as (
    select
        *,
        -- A spell is the episodes of one person sharing an admission date; its id is the
        -- first episode's record_id.
        first_value(record_id) over (
            partition by person_id, admission_date order by episode_start, record_id
        ) as spell_id,
        row_number() over (
            partition by person_id, admission_date order by episode_start, record_id
        ) as episode_order
    from typed
),

final as (
    select
        *,
        episode_order = 1 as is_first_episode,
        coalesce(
            admission_method in ('21', '22', '23', '24', '25', '28', '2A', '2B', '2C', '2D'), false
        ) as is_emergency,
        coalesce({{ icd_between(['diagnosis_1', 'diagnosis_2', 'diagnosis_3'], 'F20', 'F48') }}, false)
            as is_mental_health,
        coalesce({{ icd_between(['diagnosis_1', 'diagnosis_2', 'diagnosis_3'], 'F10', 'F19') }}, false)
            as is_substance,
        coalesce({{ icd_between(['diagnosis_1', 'diagnosis_2', 'diagnosis_3'], 'X60', 'X84') }}, false)
            as is_self_harm,
        coalesce(
            admission_method in ('21', '22', '23', '24', '25', '28', '2A', '2B', '2C', '2D')
                and {{ icd_between(['diagnosis_1', 'diagnosis_2', 'diagnosis_3'], 'S00', 'T98') }}
                and {{ icd_between(['diagnosis_1', 'diagnosis_2', 'diagnosis_3'], 'W00', 'W19') }},
            false
        ) as is_fall,
        coalesce(
            {{ icd_between(['diagnosis_1', 'diagnosis_2', 'diagnosis_3'], 'R54', 'R54') }}
                or {{ icd_between(['diagnosis_1', 'diagnosis_2', 'diagnosis_3'], 'S72', 'S72') }}
                or {{ icd_between(['diagnosis_1', 'diagnosis_2', 'diagnosis_3'], 'W00', 'W19') }},
            false
        ) as is_frailty,
        coalesce(admission_source = '19', false) as admitted_from_usual_residence,
        coalesce(discharge_destination = '19', false) as discharged_usual_residence,
        coalesce(discharge_destination in ('54', '65', '85'), false) as to_care_home,
        coalesce(discharge_method = '4' or discharge_destination = '79', false) as died
    from spells
)

select * from final
