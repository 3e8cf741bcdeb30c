-- Hospital spells: the episodes of one admission folded into one row, admission fields from
-- the first episode and discharge fields from the last.
with episodes as (
    select
        *,
        row_number() over (
            partition by spell_id order by episode_end desc nulls first, record_id desc
        ) as reverse_order
    from {{ ref('stg_health_apc') }}
),

spell_flags as (
    select
        spell_id,
        max(discharge_date) as discharge_date,
        max({{ flag('is_fall') }}) = 1 as is_fall,
        max({{ flag('is_mental_health') }}) = 1 as is_mental_health,
        count(*) as episodes
    from episodes
    group by spell_id
),

first_episode as (
    select * from episodes where episode_order = 1
),

last_episode as (
    select * from episodes where reverse_order = 1
),

final as (
    select
        f.spell_id,
        f.person_id,
        f.admission_date,
        s.discharge_date,
        f.age_at_event as age_at_admission,
        {{ age_band('f.age_at_event') }} as age_band,
        f.sex,
        f.neighbourhood,
        f.locality,
        f.imd_decile,
        {{ financial_year('f.admission_date') }} as admission_financial_year,
        f.admission_method,
        f.admission_source,
        l.discharge_destination,
        l.discharge_method,
        f.is_emergency,
        s.is_fall,
        s.is_mental_health,
        f.admitted_from_usual_residence,
        l.discharged_usual_residence,
        l.to_care_home,
        l.died as died_in_hospital,
        s.episodes
    from first_episode as f
    inner join spell_flags as s on s.spell_id = f.spell_id
    inner join last_episode as l on l.spell_id = f.spell_id
)

select * from final
