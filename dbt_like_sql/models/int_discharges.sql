-- Every discharge from a hospital spell, with what followed it: social care, reablement,
-- readmission, death, and where the person was on day 91.
with spells as (
    select * from {{ ref('int_spells') }}
),

period as (
    select * from {{ ref('int_period') }}
),

events as (
    select * from {{ ref('int_events') }}
),

discharges as (
    select s.*, p.period_end - s.discharge_date as follow_up_days
    from spells as s
    cross join period as p
    where s.discharge_date is not null
),

deaths as (
    select person_id, min(death_date) as date_of_death
    from events
    where death_date is not null
    group by person_id
),

-- Social care requested or started from admission on counts: a request made on the ward is
-- day 0 of the discharge.
social_care as (
    select d.spell_id, min(e.event_start) as first_social_care_date
    from discharges as d
    inner join events as e
        on e.person_id = d.person_id
        and e.is_social_care_contact
        and e.event_start >= d.admission_date
    group by d.spell_id
),

reablement as (
    select d.spell_id, min(e.event_start) as reablement_start
    from discharges as d
    inner join events as e
        on e.person_id = d.person_id
        and e.is_st_max
        and e.event_start >= d.admission_date
        and e.event_start - d.discharge_date <= 7
    group by d.spell_id
),

readmission as (
    select d.spell_id, min(r.admission_date) as readmission_date
    from discharges as d
    inner join spells as r
        on r.person_id = d.person_id
        and r.spell_id <> d.spell_id
        and r.is_emergency
        and r.admission_date >= d.discharge_date
    group by d.spell_id
),

in_hospital_day_91 as (
    select distinct d.spell_id
    from discharges as d
    inner join spells as r
        on r.person_id = d.person_id
        and r.spell_id <> d.spell_id
        and r.admission_date >= d.discharge_date
        and r.admission_date - d.discharge_date <= 91
        and (r.discharge_date is null or r.discharge_date - d.discharge_date > 91)
),

in_care_day_91 as (
    select distinct d.spell_id
    from discharges as d
    inner join events as e
        on e.person_id = d.person_id
        and e.is_permanent_care
        and e.event_start - d.discharge_date <= 91
        and (e.event_end is null or e.event_end - d.discharge_date >= 91)
),

joined as (
    select
        d.*,
        dt.date_of_death,
        sc.first_social_care_date,
        case
            when sc.first_social_care_date < d.discharge_date then 0
            else sc.first_social_care_date - d.discharge_date
        end as days_to_social_care,
        rb.reablement_start,
        rb.reablement_start is not null as reablement_within_7_days,
        ra.readmission_date,
        ra.readmission_date - d.discharge_date as days_to_readmission,
        h.spell_id is not null as in_hospital_on_day_91,
        c.spell_id is not null as in_permanent_care_on_day_91,
        coalesce(dt.date_of_death - d.discharge_date <= 91, false) as died_within_91_days
    from discharges as d
    left join deaths as dt on dt.person_id = d.person_id
    left join social_care as sc on sc.spell_id = d.spell_id
    left join reablement as rb on rb.spell_id = d.spell_id
    left join readmission as ra on ra.spell_id = d.spell_id
    left join in_hospital_day_91 as h on h.spell_id = d.spell_id
    left join in_care_day_91 as c on c.spell_id = d.spell_id
),

final as (
    select
        *,
        {{ financial_year('discharge_date') }} as financial_year,
        case
            when died_in_hospital then 'died'
            when discharged_usual_residence then 'usual place of residence'
            when to_care_home then 'care home'
            else 'other'
        end as destination_group,
        -- A band is known once seen, or once 90 days of follow-up have passed without contact.
        case
            when days_to_social_care <= 2 then '0-2'
            when days_to_social_care <= 7 then '3-7'
            when days_to_social_care <= 28 then '8-28'
            when days_to_social_care <= 90 then '29-90'
            when follow_up_days >= 90 then 'none within 90'
        end as social_care_days_band,
        case
            when days_to_readmission <= 30 then true
            when follow_up_days >= 30 then false
        end as readmitted_within_30_days,
        case
            when died_in_hospital then false
            when follow_up_days < 91 then null
            else not (died_within_91_days or in_hospital_on_day_91 or in_permanent_care_on_day_91)
        end as at_home_on_day_91,
        coalesce(age_at_admission >= 65 and not died_in_hospital and days_to_social_care > 28, false)
            as social_care_gap
    from joined
)

select * from final
