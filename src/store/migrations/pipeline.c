/*
 * pipeline.c - schema of the pipeline component: pipelines and their versions (by spec
 * digest), runs, task instances, attempts, links from runs to what they produced, pools and
 * event-feed cursors.
 *
 * Times are epoch milliseconds. A run belongs to one owner ("scheduler" for `kiln server`,
 * "local:HOST:PID" for `kiln pipeline run`), which alone changes its task instances.
 * dedup_key makes schedule and backfill runs unique per logical date (NULLs never collide).
 * PostgreSQL text is added with that backend.
 */
#include "store/migrations/migrations.h"

static const char v1_sqlite[] =
    "CREATE TABLE pipelines ("
    "  name TEXT PRIMARY KEY,"
    "  current_version INTEGER,"
    "  paused INTEGER NOT NULL DEFAULT 0,"
    "  last_fire BIGINT,"
    "  created_time BIGINT NOT NULL,"
    "  updated_time BIGINT NOT NULL);"
    "CREATE TABLE pipeline_versions ("
    "  name TEXT NOT NULL REFERENCES pipelines(name) ON DELETE CASCADE,"
    "  version INTEGER NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  spec TEXT NOT NULL,"
    "  file TEXT NOT NULL,"
    "  base_dir TEXT NOT NULL,"
    "  created_time BIGINT NOT NULL,"
    "  PRIMARY KEY (name, version),"
    "  UNIQUE (name, digest));"
    "CREATE TABLE pipeline_runs ("
    "  run_id TEXT PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  state TEXT NOT NULL,"
    "  trigger TEXT NOT NULL,"
    "  trigger_info TEXT,"
    "  dedup_key TEXT,"
    "  logical_date BIGINT NOT NULL,"
    "  params TEXT NOT NULL,"
    "  owner TEXT NOT NULL,"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0,"
    "  message TEXT,"
    "  tracking_run_id TEXT,"
    "  created_time BIGINT NOT NULL,"
    "  start_time BIGINT,"
    "  end_time BIGINT,"
    "  FOREIGN KEY (name, version) REFERENCES pipeline_versions(name, version),"
    "  UNIQUE (name, dedup_key));"
    "CREATE INDEX pipeline_runs_by_name ON pipeline_runs(name, created_time);"
    "CREATE INDEX pipeline_runs_active ON pipeline_runs(owner, state);"
    "CREATE TABLE pipeline_tasks ("
    "  run_id TEXT NOT NULL REFERENCES pipeline_runs(run_id) ON DELETE CASCADE,"
    "  task TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  tries INTEGER NOT NULL DEFAULT 0,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  max_tries INTEGER NOT NULL,"
    "  next_try_time BIGINT,"
    "  outputs TEXT,"
    "  message TEXT,"
    "  start_time BIGINT,"
    "  end_time BIGINT,"
    "  PRIMARY KEY (run_id, task));"
    "CREATE TABLE pipeline_attempts ("
    "  run_id TEXT NOT NULL,"
    "  task TEXT NOT NULL,"
    "  attempt INTEGER NOT NULL,"
    "  try_number INTEGER NOT NULL,"
    "  state TEXT NOT NULL,"
    "  exit_code INTEGER,"
    "  signal INTEGER,"
    "  start_time BIGINT,"
    "  end_time BIGINT,"
    "  host TEXT,"
    "  pid INTEGER,"
    "  log_path TEXT,"
    "  message TEXT,"
    "  PRIMARY KEY (run_id, task, attempt),"
    "  FOREIGN KEY (run_id, task) REFERENCES pipeline_tasks(run_id, task) ON DELETE CASCADE);"
    "CREATE TABLE pipeline_run_links ("
    "  run_id TEXT NOT NULL REFERENCES pipeline_runs(run_id) ON DELETE CASCADE,"
    "  kind TEXT NOT NULL,"
    "  ref TEXT NOT NULL,"
    "  task TEXT,"
    "  PRIMARY KEY (run_id, kind, ref));"
    "CREATE TABLE pipeline_pools ("
    "  name TEXT PRIMARY KEY,"
    "  slots INTEGER NOT NULL,"
    "  updated_time BIGINT NOT NULL);"
    "CREATE TABLE pipeline_cursors ("
    "  source TEXT PRIMARY KEY,"
    "  position BIGINT NOT NULL);";

static const struct kiln_migration pipeline_migrations[] = {
    { 1, "pipelines, versions, runs, task instances, attempts, links, pools", v1_sqlite, NULL },
};

const struct kiln_schema_component kiln_schema_pipeline = {
    "pipeline",
    pipeline_migrations,
    sizeof(pipeline_migrations) / sizeof(pipeline_migrations[0]),
};
