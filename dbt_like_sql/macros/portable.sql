{#- Expressions that must read the same on DuckDB and PostgreSQL; the only place they are spelt. -#}

{%- macro to_date(col) -%}cast({{ col }} as date){%- endmacro -%}

{%- macro to_int(col) -%}cast(cast({{ col }} as double precision) as integer){%- endmacro -%}

{%- macro to_float(col) -%}cast({{ col }} as double precision){%- endmacro -%}

{%- macro to_bool(col) -%}
(lower(cast({{ col }} as varchar)) in ('true', 't', '1', 'yes', 'y'))
{%- endmacro -%}

{%- macro flag(condition) -%}(case when {{ condition }} then 1 else 0 end){%- endmacro -%}

{#- Months as integers (year * 12 + month - 1) so spans are ranges of whole numbers. -#}
{%- macro month_index(d) -%}
(cast(extract(year from {{ d }}) as integer) * 12 + cast(extract(month from {{ d }}) as integer) - 1)
{%- endmacro -%}

{%- macro fy_start_year(d) -%}
(cast(extract(year from {{ d }}) as integer)
 - (case when cast(extract(month from {{ d }}) as integer) < 4 then 1 else 0 end))
{%- endmacro -%}

{#- Financial year label from its starting year: 2024 -> '2024/25'. -#}
{%- macro fy_label(start_year) -%}
(cast({{ start_year }} as varchar) || '/' || lpad(cast(({{ start_year }} + 1) % 100 as varchar), 2, '0'))
{%- endmacro -%}

{%- macro financial_year(d) -%}{{ fy_label(fy_start_year(d)) }}{%- endmacro -%}

{%- macro month_start(extract_month) -%}cast({{ extract_month }} || '-01' as date){%- endmacro -%}

{%- macro month_end(extract_month) -%}
cast(cast({{ extract_month }} || '-01' as date) + interval '1 month' - interval '1 day' as date)
{%- endmacro -%}

{%- macro age_band(age) -%}
(case
    when {{ age }} is null then null
    when {{ age }} < 18 then '0-17'
    when {{ age }} < 35 then '18-34'
    when {{ age }} < 50 then '35-49'
    when {{ age }} < 65 then '50-64'
    when {{ age }} < 75 then '65-74'
    when {{ age }} < 85 then '75-84'
    else '85+'
end)
{%- endmacro -%}

{%- macro quintile(decile) -%}cast(floor(({{ decile }} + 1) / 2.0) as integer){%- endmacro -%}

{#- True when any of `cols` (ICD-10, 4 characters no dot) has a 3-character stem in [lo, hi]. -#}
{%- macro icd_between(cols, lo, hi) -%}
({% for c in cols %}{% if not loop.first %} or {% endif %}substr(upper({{ c }}), 1, 3) between '{{ lo }}' and '{{ hi }}'{% endfor %})
{%- endmacro -%}

{%- macro rate(numerator, denominator, per) -%}
(case when {{ denominator }} > 0
      then cast({{ numerator }} as double precision) * {{ per }} / {{ denominator }} end)
{%- endmacro -%}

{#- The financial year a month index falls in, by its starting year (April is index 3 mod 12). -#}
{%- macro month_fy_start(month_index) -%}
cast(floor(({{ month_index }} - 3) / 12.0) as integer)
{%- endmacro -%}

{#- A column name from sources.yaml, quoted as both dialects read it (its case kept). -#}
{%- macro quoted(name) -%}"{{ name | replace('"', '""') }}"{%- endmacro -%}

{#- The services the hand-written measures are about; a source of another service feeds
    linkage, person_spine and service_events, not the service measures. -#}
{%- macro known_services() -%}('health', 'social_care', 'housing', 'benefits'){%- endmacro -%}
