/*
 * tracking.c - schema of the tracking component: experiments, runs, metrics (history and
 * latest), params, tags, datasets and inputs, run outputs, and MLflow 3 logged models.
 *
 * Shapes follow MLflow's SQL store so semantics carry over: metric history keeps every row
 * except exact duplicates (primary key over all value columns); latest_metrics holds the row
 * with the greatest (step, timestamp, value) per (run, key) and serves search filters and
 * ordering; NaN is stored as is_nan = 1 with value 0 so it never matches a numeric filter.
 * Experiment 0 ("Default") is created by the tracking layer at start (its artifact location
 * depends on the server's configuration). PostgreSQL text is added with that backend.
 */
#include "store/migrations/migrations.h"

static const char v1_sqlite[] =
    "CREATE TABLE experiments ("
    "  experiment_id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL UNIQUE,"
    "  artifact_location TEXT NOT NULL,"
    "  lifecycle_stage TEXT NOT NULL DEFAULT 'active',"
    "  creation_time BIGINT NOT NULL,"
    "  last_update_time BIGINT NOT NULL);"
    "CREATE TABLE experiment_tags ("
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (experiment_id, key));"
    "CREATE TABLE runs ("
    "  run_uuid TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),"
    "  user_id TEXT NOT NULL DEFAULT '',"
    "  status TEXT NOT NULL,"
    "  start_time BIGINT,"
    "  end_time BIGINT,"
    "  artifact_uri TEXT NOT NULL,"
    "  lifecycle_stage TEXT NOT NULL DEFAULT 'active',"
    "  deleted_time BIGINT);"
    "CREATE INDEX runs_by_experiment ON runs(experiment_id, lifecycle_stage, start_time);";

static const char v2_sqlite[] =
    "CREATE TABLE metrics ("
    "  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value DOUBLE PRECISION NOT NULL,"
    "  timestamp BIGINT NOT NULL,"
    "  step BIGINT NOT NULL,"
    "  is_nan INTEGER NOT NULL,"
    "  model_id TEXT, dataset_name TEXT, dataset_digest TEXT,"
    "  PRIMARY KEY (run_uuid, key, timestamp, step, value, is_nan));"
    "CREATE TABLE latest_metrics ("
    "  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value DOUBLE PRECISION NOT NULL,"
    "  timestamp BIGINT NOT NULL,"
    "  step BIGINT NOT NULL,"
    "  is_nan INTEGER NOT NULL,"
    "  PRIMARY KEY (run_uuid, key));"
    "CREATE INDEX latest_metrics_by_value ON latest_metrics(key, is_nan, value);"
    "CREATE TABLE params ("
    "  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid) ON DELETE CASCADE,"
    "  key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (run_uuid, key));"
    "CREATE INDEX params_by_key ON params(key, value);"
    "CREATE TABLE tags ("
    "  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid) ON DELETE CASCADE,"
    "  key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (run_uuid, key));"
    "CREATE INDEX tags_by_key ON tags(key, value);";

static const char v3_sqlite[] =
    "CREATE TABLE datasets ("
    "  dataset_uuid TEXT PRIMARY KEY,"
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id) ON DELETE CASCADE,"
    "  name TEXT NOT NULL, digest TEXT NOT NULL,"
    "  source_type TEXT NOT NULL, source TEXT NOT NULL,"
    "  schema TEXT, profile TEXT,"
    "  UNIQUE (experiment_id, name, digest));"
    "CREATE TABLE inputs ("
    "  input_uuid TEXT PRIMARY KEY,"
    "  source_type TEXT NOT NULL," /* DATASET or MODEL */
    "  source_id TEXT NOT NULL,"
    "  destination_type TEXT NOT NULL," /* RUN */
    "  destination_id TEXT NOT NULL,"
    "  UNIQUE (source_type, source_id, destination_type, destination_id));"
    "CREATE INDEX inputs_by_destination ON inputs(destination_type, destination_id);"
    "CREATE TABLE input_tags ("
    "  input_uuid TEXT NOT NULL REFERENCES inputs(input_uuid) ON DELETE CASCADE,"
    "  name TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (input_uuid, name));"
    "CREATE TABLE run_outputs ("
    "  run_uuid TEXT NOT NULL REFERENCES runs(run_uuid) ON DELETE CASCADE,"
    "  model_id TEXT NOT NULL, step BIGINT NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (run_uuid, model_id));"
    "CREATE TABLE logged_models ("
    "  model_id TEXT PRIMARY KEY,"
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),"
    "  name TEXT NOT NULL,"
    "  artifact_location TEXT NOT NULL,"
    "  creation_timestamp_ms BIGINT NOT NULL,"
    "  last_updated_timestamp_ms BIGINT NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  lifecycle_stage TEXT NOT NULL DEFAULT 'active',"
    "  model_type TEXT, source_run_id TEXT, status_message TEXT);"
    "CREATE INDEX logged_models_by_experiment ON logged_models(experiment_id, name);"
    "CREATE TABLE logged_model_params ("
    "  model_id TEXT NOT NULL REFERENCES logged_models(model_id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (model_id, key));"
    "CREATE TABLE logged_model_tags ("
    "  model_id TEXT NOT NULL REFERENCES logged_models(model_id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (model_id, key));"
    "CREATE TABLE logged_model_metrics ("
    "  model_id TEXT NOT NULL REFERENCES logged_models(model_id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL, value DOUBLE PRECISION NOT NULL, is_nan INTEGER NOT NULL,"
    "  timestamp BIGINT NOT NULL, step BIGINT NOT NULL,"
    "  run_uuid TEXT NOT NULL DEFAULT '', dataset_name TEXT, dataset_digest TEXT,"
    "  PRIMARY KEY (model_id, key, timestamp, step, run_uuid));";

/*
 * v4: the per-run tables become WITHOUT ROWID, clustered by their primary key. A log-batch then
 * writes each row into one b-tree instead of a table plus its key index (fewer pages per
 * commit), and the secondary indexes carry the run id, so search reads ids from an index
 * without touching the table. The tables are rebuilt under new names that reference runs_v4;
 * the old children are dropped before the old runs table (so no ON DELETE CASCADE fires), and
 * the renames carry the foreign keys over to the final names.
 */
static const char v4_sqlite[] =
    "CREATE TABLE runs_v4 ("
    "  run_uuid TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL DEFAULT '',"
    "  experiment_id INTEGER NOT NULL REFERENCES experiments(experiment_id),"
    "  user_id TEXT NOT NULL DEFAULT '',"
    "  status TEXT NOT NULL,"
    "  start_time BIGINT,"
    "  end_time BIGINT,"
    "  artifact_uri TEXT NOT NULL,"
    "  lifecycle_stage TEXT NOT NULL DEFAULT 'active',"
    "  deleted_time BIGINT) WITHOUT ROWID;"
    "INSERT INTO runs_v4 SELECT run_uuid, name, experiment_id, user_id, status, start_time, "
    "  end_time, artifact_uri, lifecycle_stage, deleted_time FROM runs;"
    "CREATE TABLE metrics_v4 ("
    "  run_uuid TEXT NOT NULL REFERENCES runs_v4(run_uuid) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value DOUBLE PRECISION NOT NULL,"
    "  timestamp BIGINT NOT NULL,"
    "  step BIGINT NOT NULL,"
    "  is_nan INTEGER NOT NULL,"
    "  model_id TEXT, dataset_name TEXT, dataset_digest TEXT,"
    "  PRIMARY KEY (run_uuid, key, timestamp, step, value, is_nan)) WITHOUT ROWID;"
    "INSERT INTO metrics_v4 SELECT run_uuid, key, value, timestamp, step, is_nan, model_id, "
    "  dataset_name, dataset_digest FROM metrics;"
    "CREATE TABLE latest_metrics_v4 ("
    "  run_uuid TEXT NOT NULL REFERENCES runs_v4(run_uuid) ON DELETE CASCADE,"
    "  key TEXT NOT NULL,"
    "  value DOUBLE PRECISION NOT NULL,"
    "  timestamp BIGINT NOT NULL,"
    "  step BIGINT NOT NULL,"
    "  is_nan INTEGER NOT NULL,"
    "  PRIMARY KEY (run_uuid, key)) WITHOUT ROWID;"
    "INSERT INTO latest_metrics_v4 SELECT run_uuid, key, value, timestamp, step, is_nan "
    "  FROM latest_metrics;"
    "CREATE TABLE params_v4 ("
    "  run_uuid TEXT NOT NULL REFERENCES runs_v4(run_uuid) ON DELETE CASCADE,"
    "  key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (run_uuid, key)) WITHOUT ROWID;"
    "INSERT INTO params_v4 SELECT run_uuid, key, value FROM params;"
    "CREATE TABLE tags_v4 ("
    "  run_uuid TEXT NOT NULL REFERENCES runs_v4(run_uuid) ON DELETE CASCADE,"
    "  key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (run_uuid, key)) WITHOUT ROWID;"
    "INSERT INTO tags_v4 SELECT run_uuid, key, value FROM tags;"
    "CREATE TABLE run_outputs_v4 ("
    "  run_uuid TEXT NOT NULL REFERENCES runs_v4(run_uuid) ON DELETE CASCADE,"
    "  model_id TEXT NOT NULL, step BIGINT NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (run_uuid, model_id)) WITHOUT ROWID;"
    "INSERT INTO run_outputs_v4 SELECT run_uuid, model_id, step FROM run_outputs;"
    "DROP TABLE metrics; DROP TABLE latest_metrics; DROP TABLE params; DROP TABLE tags;"
    "DROP TABLE run_outputs; DROP TABLE runs;"
    "ALTER TABLE runs_v4 RENAME TO runs;"
    "ALTER TABLE metrics_v4 RENAME TO metrics;"
    "ALTER TABLE latest_metrics_v4 RENAME TO latest_metrics;"
    "ALTER TABLE params_v4 RENAME TO params;"
    "ALTER TABLE tags_v4 RENAME TO tags;"
    "ALTER TABLE run_outputs_v4 RENAME TO run_outputs;"
    "CREATE INDEX runs_by_experiment ON runs(experiment_id, lifecycle_stage, start_time);"
    "CREATE INDEX latest_metrics_by_value ON latest_metrics(key, is_nan, value);"
    "CREATE INDEX params_by_key ON params(key, value);"
    "CREATE INDEX tags_by_key ON tags(key, value);";

/*
 * v5: metrics, latest_metrics and params lose their foreign key to runs. Every write to them
 * already checks, in the same transaction, that the run exists and is active
 * (trk_check_run), so the key only repeated that lookup once per row: 25 b-tree seeks per
 * 10-metric, 5-param log-batch, about a fifth of its SQL time inside the serialised group
 * commit. Runs are never hard-deleted (MLflow's delete is a lifecycle change); whatever
 * hard-deletes them one day (a gc) must delete these rows explicitly. tags keep theirs.
 */
static const char v5_sqlite[] =
    "CREATE TABLE metrics_v5 ("
    "  run_uuid TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value DOUBLE PRECISION NOT NULL,"
    "  timestamp BIGINT NOT NULL,"
    "  step BIGINT NOT NULL,"
    "  is_nan INTEGER NOT NULL,"
    "  model_id TEXT, dataset_name TEXT, dataset_digest TEXT,"
    "  PRIMARY KEY (run_uuid, key, timestamp, step, value, is_nan)) WITHOUT ROWID;"
    "INSERT INTO metrics_v5 SELECT run_uuid, key, value, timestamp, step, is_nan, model_id, "
    "  dataset_name, dataset_digest FROM metrics;"
    "CREATE TABLE latest_metrics_v5 ("
    "  run_uuid TEXT NOT NULL,"
    "  key TEXT NOT NULL,"
    "  value DOUBLE PRECISION NOT NULL,"
    "  timestamp BIGINT NOT NULL,"
    "  step BIGINT NOT NULL,"
    "  is_nan INTEGER NOT NULL,"
    "  PRIMARY KEY (run_uuid, key)) WITHOUT ROWID;"
    "INSERT INTO latest_metrics_v5 SELECT run_uuid, key, value, timestamp, step, is_nan "
    "  FROM latest_metrics;"
    "CREATE TABLE params_v5 ("
    "  run_uuid TEXT NOT NULL,"
    "  key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (run_uuid, key)) WITHOUT ROWID;"
    "INSERT INTO params_v5 SELECT run_uuid, key, value FROM params;"
    "DROP TABLE metrics; DROP TABLE latest_metrics; DROP TABLE params;"
    "ALTER TABLE metrics_v5 RENAME TO metrics;"
    "ALTER TABLE latest_metrics_v5 RENAME TO latest_metrics;"
    "ALTER TABLE params_v5 RENAME TO params;"
    "CREATE INDEX latest_metrics_by_value ON latest_metrics(key, is_nan, value);"
    "CREATE INDEX params_by_key ON params(key, value);";

/*
 * v6: metric_stage, where logged metrics wait until they are applied to metrics and
 * latest_metrics in slices (tracking/metric_stage.c explains why). Clustered by run, then by
 * a per-run arrival number (seq), so a request appends its rows to one leaf and a slice reads
 * and deletes a contiguous range.
 */
static const char v6_sqlite[] = "CREATE TABLE metric_stage ("
                                "  run_uuid TEXT NOT NULL,"
                                "  seq BIGINT NOT NULL,"
                                "  key TEXT NOT NULL,"
                                "  value DOUBLE PRECISION NOT NULL,"
                                "  timestamp BIGINT NOT NULL,"
                                "  step BIGINT NOT NULL,"
                                "  is_nan INTEGER NOT NULL,"
                                "  dataset_name TEXT, dataset_digest TEXT,"
                                "  PRIMARY KEY (run_uuid, seq)) WITHOUT ROWID;";

static const struct kiln_migration tracking_migrations[] = {
    { 1, "experiments and runs", v1_sqlite, NULL },
    { 2, "metrics, params and tags", v2_sqlite, NULL },
    { 3, "datasets, inputs, outputs and logged models", v3_sqlite, NULL },
    { 4, "per-run tables clustered by key (WITHOUT ROWID)", v4_sqlite, NULL },
    { 5, "metrics, latest metrics and params without a per-row run lookup", v5_sqlite, NULL },
    { 6, "metric stage", v6_sqlite, NULL },
};

const struct kiln_schema_component kiln_schema_tracking = {
    "tracking",
    tracking_migrations,
    sizeof(tracking_migrations) / sizeof(tracking_migrations[0]),
};
