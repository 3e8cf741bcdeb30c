-- One row per source and subgroup value (subgroup 'all' for the source as a whole): how well
-- linkage serves each source and each group of people. Computed by the link step; published
-- here so that it goes through the same disclosure control, checks and descriptions.
with computed as (
    select * from {{ source('placelink', 'linkage_quality') }}
),

final as (
    select
        source,
        subgroup,
        subgroup_value,
        records,
        persons,
        records_linked_within_source,
        records_linked_other_source,
        cast(null as double precision) as share_linked_other_source,
        persons_cluster_1,
        persons_cluster_2_5,
        persons_cluster_6_20,
        persons_cluster_21_plus,
        cast(precision as double precision) as precision,
        cast(recall as double precision) as recall,
        cast(f1 as double precision) as f1
    from computed
)

select * from final
