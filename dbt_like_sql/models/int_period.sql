-- The period the extracts cover: one row, from the first day of the earliest extract month to
-- the last day of the latest, so follow-up windows know where the data ends.
with months as (
    select min(extract_month) as first_month, max(extract_month) as last_month
    from {{ ref('int_events') }}
),

final as (
    select
        {{ month_start('first_month') }} as period_start,
        {{ month_end('last_month') }} as period_end,
        {{ month_index(month_start('first_month')) }} as first_month_index,
        {{ month_index(month_start('last_month')) }} as last_month_index
    from months
)

select * from final
