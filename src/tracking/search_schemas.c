/*
 * search_schemas.c - what runs and experiments expose to search filters and order_by
 * (mlflow-api.md §8), as static schemas for the shared parser (search_filter.h).
 *
 * Key-value kinds are matched with "<id> IN (SELECT ... WHERE key = ? AND <cmp>)" rather than
 * a correlated EXISTS: the subquery is evaluated once through the (key, value) indexes, which
 * keeps a filter over 100,000 runs fast. A run lacking the key is never in the set, so it never
 * matches (also for "!="), as in MLflow.
 */
#include "tracking/search_filter.h"
#include "tracking/tracking_int.h"

#define ORD_FILT (KILN_SF_ORDERABLE | KILN_SF_FILTERABLE)

static const struct kiln_sf_field run_attrs[] = {
    { "run_id", NULL, "runs.run_uuid", KILN_SF_STRING, KILN_SF_OPS_STRING_IN, ORD_FILT },
    { "run_name", NULL, "runs.name", KILN_SF_STRING, KILN_SF_OPS_STRING, ORD_FILT },
    { "run name", "run_name", "runs.name", KILN_SF_STRING, KILN_SF_OPS_STRING, ORD_FILT },
    { "Run name", "run_name", "runs.name", KILN_SF_STRING, KILN_SF_OPS_STRING, ORD_FILT },
    { "Run Name", "run_name", "runs.name", KILN_SF_STRING, KILN_SF_OPS_STRING, ORD_FILT },
    { "user_id", NULL, "runs.user_id", KILN_SF_STRING, KILN_SF_OPS_STRING, ORD_FILT },
    { "status", NULL, "runs.status", KILN_SF_STRING, KILN_SF_OPS_STRING, ORD_FILT },
    { "artifact_uri", NULL, "runs.artifact_uri", KILN_SF_STRING, KILN_SF_OPS_STRING, ORD_FILT },
    { "start_time", NULL, "runs.start_time", KILN_SF_NUMBER, KILN_SF_OPS_NUMERIC, ORD_FILT },
    { "created", "start_time", "runs.start_time", KILN_SF_NUMBER, KILN_SF_OPS_NUMERIC, ORD_FILT },
    { "Created", "start_time", "runs.start_time", KILN_SF_NUMBER, KILN_SF_OPS_NUMERIC, ORD_FILT },
    { "end_time", NULL, "runs.end_time", KILN_SF_NUMBER, KILN_SF_OPS_NUMERIC, ORD_FILT },
};

static const struct kiln_sf_field run_dataset_fields[] = {
    { "name", NULL, "d.name", KILN_SF_STRING, KILN_SF_OPS_STRING_IN, KILN_SF_FILTERABLE },
    { "digest", NULL, "d.digest", KILN_SF_STRING, KILN_SF_OPS_STRING_IN, KILN_SF_FILTERABLE },
    { "context", NULL, "it.value", KILN_SF_STRING, KILN_SF_OPS_STRING_IN, KILN_SF_FILTERABLE },
};

const struct kiln_sf_schema kiln_sf_schema_runs = {
    .entity = "runs",
    .kinds = KILN_SF_ATTR | KILN_SF_METRIC | KILN_SF_PARAM | KILN_SF_TAG | KILN_SF_DATASET,
    .order_kinds = KILN_SF_ATTR | KILN_SF_METRIC | KILN_SF_PARAM | KILN_SF_TAG,
    .attrs = run_attrs,
    .nattrs = KILN_ARRAY_LEN(run_attrs),
    .dataset_fields = run_dataset_fields,
    .ndataset_fields = KILN_ARRAY_LEN(run_dataset_fields),
    .metric_ops = KILN_SF_OPS_NUMERIC,
    .param_ops = KILN_SF_OPS_STRING,
    .tag_ops = KILN_SF_OPS_STRING,
    .metric = { "runs.run_uuid IN (SELECT lm.run_uuid FROM latest_metrics lm "
                "WHERE lm.key = {key} AND {cmp})",
                "lm.value", "lm.is_nan" },
    .param = { "runs.run_uuid IN (SELECT p.run_uuid FROM params p "
               "WHERE p.key = {key} AND {cmp})",
               "p.value", NULL },
    .tag = { "runs.run_uuid IN (SELECT t.run_uuid FROM tags t WHERE t.key = {key} AND {cmp})",
             "t.value", NULL },
    .dataset = { "runs.run_uuid IN (SELECT i.destination_id FROM inputs i "
                 "JOIN datasets d ON d.dataset_uuid = i.source_id "
                 "LEFT JOIN input_tags it ON it.input_uuid = i.input_uuid "
                 "AND it.name = 'mlflow.data.context' "
                 "WHERE i.source_type = 'DATASET' AND i.destination_type = 'RUN' AND {cmp})",
                 NULL, NULL },
};

/*
 * The same filters as correlated EXISTS probes through the primary keys: used when the search
 * is driven from a metric index in order (runs_search.c), where only the runs reached before
 * the LIMIT are tested, so probing each beats building whole IN lists.
 */
const struct kiln_sf_schema trk_sf_schema_runs_probe = {
    .entity = "runs",
    .kinds = KILN_SF_ATTR | KILN_SF_METRIC | KILN_SF_PARAM | KILN_SF_TAG | KILN_SF_DATASET,
    .order_kinds = KILN_SF_ATTR | KILN_SF_METRIC | KILN_SF_PARAM | KILN_SF_TAG,
    .attrs = run_attrs,
    .nattrs = KILN_ARRAY_LEN(run_attrs),
    .dataset_fields = run_dataset_fields,
    .ndataset_fields = KILN_ARRAY_LEN(run_dataset_fields),
    .metric_ops = KILN_SF_OPS_NUMERIC,
    .param_ops = KILN_SF_OPS_STRING,
    .tag_ops = KILN_SF_OPS_STRING,
    .metric = { "EXISTS (SELECT 1 FROM latest_metrics lm WHERE lm.run_uuid = runs.run_uuid "
                "AND lm.key = {key} AND {cmp})",
                "lm.value", "lm.is_nan" },
    .param = { "EXISTS (SELECT 1 FROM params p WHERE p.run_uuid = runs.run_uuid "
               "AND p.key = {key} AND {cmp})",
               "p.value", NULL },
    .tag = { "EXISTS (SELECT 1 FROM tags t WHERE t.run_uuid = runs.run_uuid "
             "AND t.key = {key} AND {cmp})",
             "t.value", NULL },
    .dataset = { "EXISTS (SELECT 1 FROM inputs i "
                 "JOIN datasets d ON d.dataset_uuid = i.source_id "
                 "LEFT JOIN input_tags it ON it.input_uuid = i.input_uuid "
                 "AND it.name = 'mlflow.data.context' "
                 "WHERE i.destination_type = 'RUN' AND i.destination_id = runs.run_uuid "
                 "AND i.source_type = 'DATASET' AND {cmp})",
                 NULL, NULL },
};

static const struct kiln_sf_field experiment_attrs[] = {
    { "name", NULL, "experiments.name", KILN_SF_STRING, KILN_SF_OPS_STRING, ORD_FILT },
    { "creation_time", NULL, "experiments.creation_time", KILN_SF_NUMBER, KILN_SF_OPS_NUMERIC,
      ORD_FILT },
    { "last_update_time", NULL, "experiments.last_update_time", KILN_SF_NUMBER, KILN_SF_OPS_NUMERIC,
      ORD_FILT },
    { "experiment_id", NULL, "experiments.experiment_id", KILN_SF_NUMBER, KILN_SF_OPS_NUMERIC,
      KILN_SF_ORDERABLE },
};

const struct kiln_sf_schema kiln_sf_schema_experiments = {
    .entity = "experiments",
    .kinds = KILN_SF_ATTR | KILN_SF_TAG,
    .order_kinds = KILN_SF_ATTR,
    .attrs = experiment_attrs,
    .nattrs = KILN_ARRAY_LEN(experiment_attrs),
    .tag_ops = KILN_SF_OPS_STRING,
    .tag = { "experiments.experiment_id IN (SELECT et.experiment_id FROM experiment_tags et "
             "WHERE et.key = {key} AND {cmp})",
             "et.value", NULL },
};
