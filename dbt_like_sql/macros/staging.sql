{#- The columns every raw_<source> table starts with, typed the same way in each staging model. -#}
{%- macro record_columns() -%}
        cast(person_id as bigint) as person_id,
        cast(record_id as varchar) as record_id,
        cast(extract_month as varchar) as extract_month,
        {{ to_int('age_at_event') }} as age_at_event,
        case when sex in ('M', 'F') then sex end as sex,
        lsoa,
        neighbourhood,
        locality,
        {{ to_int('imd_decile') }} as imd_decile
{%- endmacro -%}

{#- Every record's versions across extract months, newest first (version_rank 1 wins); records
    that did not link to a person are left out. Reads the CTE `source`. -#}
{%- macro latest_versions() -%}
select
        *,
        row_number() over (partition by record_id order by extract_month desc) as version_rank
    from source
    where person_id is not null
{%- endmacro -%}
