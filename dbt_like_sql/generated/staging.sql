-- {{ src.name }} records, typed, one row per record (latest extract wins): generated from the
-- source's entry in sources.yaml, for a source with no hand-written models/stg_{{ src.name }}.sql.
with source as (
    select * from {{ source('placelink', src.name) }}
),

latest as (
    {{ latest_versions() }}
),

typed as (
    select
        {{ record_columns() }}
        {%- for field in src.fields %},
        {% if field.is_date %}{{ to_date(quoted(field.name)) }}{% else %}cast({{ quoted(field.name) }} as varchar){% endif %} as {{ quoted(field.name) }}
        {%- endfor %}
    from latest
    where version_rank = 1
)

select * from typed
