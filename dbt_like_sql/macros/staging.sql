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
