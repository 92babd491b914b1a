/*
 * registry.c - schema of the registry component: registered models, model versions, tags,
 * aliases, promotion policies, the alias audit log, evaluations, the event log and webhook
 * deliveries.
 *
 * A registered model has a surrogate key (rm_id, AUTOINCREMENT so an id is never reused even
 * after a delete) and a unique name, so a rename touches one row and versions follow it.
 * Versions are numbered per model as max(version, including deleted) + 1; a deleted version
 * keeps its row (deleted = 1, source and run redacted) so its number is never reused, as in
 * MLflow. Aliases map (model, alias) to a version; environments are aliases. Every alias move
 * and every refused promotion is a row of alias_history with its gate report (JSON).
 *
 * registry_events is the durable event log: ids increase (AUTOINCREMENT) and are written in
 * the same transaction as the change they describe, so a follower that reads "events after
 * id N" never misses a committed change. webhook_deliveries holds one row per (webhook,
 * event) to deliver, also written in that transaction, so a restart resumes pending
 * deliveries. PostgreSQL text is added with that backend.
 */
#include "store/migrations/migrations.h"

static const char v1_sqlite[] =
    "CREATE TABLE registered_models ("
    "  rm_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  name TEXT NOT NULL UNIQUE,"
    "  creation_time BIGINT NOT NULL,"
    "  last_updated_time BIGINT NOT NULL,"
    "  description TEXT);"
    "CREATE INDEX registered_models_by_updated ON registered_models(last_updated_time);"
    "CREATE TABLE registered_model_tags ("
    "  rm_id INTEGER NOT NULL REFERENCES registered_models(rm_id) ON DELETE CASCADE,"
    "  key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (rm_id, key));"
    "CREATE INDEX registered_model_tags_by_key ON registered_model_tags(key, value);"
    "CREATE TABLE model_versions ("
    "  rm_id INTEGER NOT NULL REFERENCES registered_models(rm_id) ON DELETE CASCADE,"
    "  version BIGINT NOT NULL,"
    "  creation_time BIGINT NOT NULL,"
    "  last_updated_time BIGINT NOT NULL,"
    "  user_id TEXT,"
    "  description TEXT,"
    "  current_stage TEXT NOT NULL DEFAULT 'None',"
    "  source TEXT NOT NULL,"
    "  storage_location TEXT NOT NULL,"
    "  run_id TEXT,"
    "  run_link TEXT,"
    "  model_id TEXT,"
    "  status TEXT NOT NULL DEFAULT 'READY',"
    "  status_message TEXT,"
    "  deleted INTEGER NOT NULL DEFAULT 0,"
    "  PRIMARY KEY (rm_id, version));"
    "CREATE INDEX model_versions_by_updated ON model_versions(last_updated_time);"
    "CREATE INDEX model_versions_by_run ON model_versions(run_id);"
    "CREATE TABLE model_version_tags ("
    "  rm_id INTEGER NOT NULL,"
    "  version BIGINT NOT NULL,"
    "  key TEXT NOT NULL, value TEXT NOT NULL,"
    "  PRIMARY KEY (rm_id, version, key),"
    "  FOREIGN KEY (rm_id, version) REFERENCES model_versions(rm_id, version) ON DELETE CASCADE);"
    "CREATE INDEX model_version_tags_by_key ON model_version_tags(key, value);"
    "CREATE TABLE model_aliases ("
    "  rm_id INTEGER NOT NULL REFERENCES registered_models(rm_id) ON DELETE CASCADE,"
    "  alias TEXT NOT NULL,"
    "  version BIGINT NOT NULL,"
    "  PRIMARY KEY (rm_id, alias));";

static const char v2_sqlite[] =
    "CREATE TABLE model_policies ("
    "  rm_id INTEGER PRIMARY KEY REFERENCES registered_models(rm_id) ON DELETE CASCADE,"
    "  policy_yaml TEXT NOT NULL,"
    "  environments TEXT NOT NULL,"
    "  updated_time BIGINT NOT NULL,"
    "  updated_by TEXT NOT NULL);"
    "CREATE TABLE alias_history ("
    "  move_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  rm_id INTEGER NOT NULL REFERENCES registered_models(rm_id) ON DELETE CASCADE,"
    "  time BIGINT NOT NULL,"
    "  user_id TEXT NOT NULL,"
    "  alias TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  from_version BIGINT,"
    "  to_version BIGINT,"
    "  reason TEXT NOT NULL DEFAULT '',"
    "  report TEXT);"
    "CREATE INDEX alias_history_by_model ON alias_history(rm_id, alias, move_id);"
    "CREATE TABLE evaluations ("
    "  eval_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  rm_id INTEGER NOT NULL,"
    "  version BIGINT NOT NULL,"
    "  dataset_name TEXT NOT NULL,"
    "  dataset_digest TEXT NOT NULL,"
    "  creation_time BIGINT NOT NULL,"
    "  user_id TEXT NOT NULL,"
    "  run_id TEXT,"
    "  threshold DOUBLE PRECISION,"
    "  metrics TEXT NOT NULL,"
    "  per_class TEXT NOT NULL,"
    "  pr_curve TEXT NOT NULL,"
    "  UNIQUE (rm_id, version, dataset_name, dataset_digest),"
    "  FOREIGN KEY (rm_id, version) REFERENCES model_versions(rm_id, version) ON DELETE CASCADE);"
    "CREATE TABLE registry_events ("
    "  event_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  time BIGINT NOT NULL,"
    "  type TEXT NOT NULL,"
    "  model TEXT,"
    "  version BIGINT,"
    "  alias TEXT,"
    "  user_id TEXT NOT NULL DEFAULT '',"
    "  payload TEXT NOT NULL);"
    "CREATE TABLE webhooks ("
    "  webhook_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  url TEXT NOT NULL,"
    "  events TEXT NOT NULL,"
    "  description TEXT NOT NULL DEFAULT '',"
    "  active INTEGER NOT NULL DEFAULT 1,"
    "  creation_time BIGINT NOT NULL);"
    "CREATE TABLE webhook_deliveries ("
    "  webhook_id INTEGER NOT NULL REFERENCES webhooks(webhook_id) ON DELETE CASCADE,"
    "  event_id INTEGER NOT NULL REFERENCES registry_events(event_id),"
    "  state TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_attempt_time BIGINT NOT NULL,"
    "  last_status INTEGER,"
    "  last_error TEXT,"
    "  updated_time BIGINT NOT NULL,"
    "  PRIMARY KEY (webhook_id, event_id));"
    "CREATE INDEX webhook_deliveries_due ON webhook_deliveries(state, next_attempt_time);";

static const struct kiln_migration registry_migrations[] = {
    { 1, "registered models, versions, tags and aliases", v1_sqlite, NULL },
    { 2, "policies, alias history, evaluations, events and webhooks", v2_sqlite, NULL },
};

const struct kiln_schema_component kiln_schema_registry = {
    "registry",
    registry_migrations,
    sizeof(registry_migrations) / sizeof(registry_migrations[0]),
};
