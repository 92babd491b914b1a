/*
 * deploy.c - schema of the deploy component: deployments (their spec and the plan replicas
 * follow), rollouts with their checkpointed statistics, the analyses that judged them, and
 * alerts.
 *
 * Times are epoch milliseconds. A deployment's `generation` numbers its plan: it only grows,
 * and `plan` holds the plan last published, so a restarted control plane serves the same plan
 * under the same generation. `ended_candidate` and `ended_move_id` remember which candidate
 * alias move the last finished rollout was about, so a rolled-back version is not rolled out
 * again until someone moves the candidate alias anew. A rollout's `stats` is the JSON
 * checkpoint of its statistics (rewritten at every analysis), `state` one of progressing,
 * promoted, rolled_back, aborted, superseded. PostgreSQL text is added with that backend.
 */
#include "store/migrations/migrations.h"

static const char v1_sqlite[] =
    "CREATE TABLE deployments ("
    "  name TEXT PRIMARY KEY,"
    "  model TEXT NOT NULL,"
    "  spec TEXT NOT NULL,"
    "  generation BIGINT NOT NULL,"
    "  plan TEXT NOT NULL,"
    "  ended_candidate BIGINT NOT NULL DEFAULT 0,"
    "  ended_move_id BIGINT NOT NULL DEFAULT 0,"
    "  created_time BIGINT NOT NULL,"
    "  updated_time BIGINT NOT NULL);"
    "CREATE TABLE deploy_rollouts ("
    "  rollout_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  deployment TEXT NOT NULL REFERENCES deployments(name) ON DELETE CASCADE,"
    "  model TEXT NOT NULL,"
    "  stable_version BIGINT NOT NULL,"
    "  candidate_version BIGINT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  step INTEGER NOT NULL,"
    "  step_start_time BIGINT NOT NULL,"
    "  failed_checks INTEGER NOT NULL DEFAULT 0,"
    "  start_time BIGINT NOT NULL,"
    "  end_time BIGINT,"
    "  reason TEXT,"
    "  failed_check_time BIGINT,"
    "  traffic_off_time BIGINT,"
    "  alias_time BIGINT,"
    "  alias_error TEXT,"
    "  user_id TEXT,"
    "  stats TEXT,"
    "  last_analysis TEXT);"
    "CREATE INDEX deploy_rollouts_by_deployment ON deploy_rollouts(deployment, rollout_id);"
    "CREATE TABLE deploy_analyses ("
    "  analysis_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  rollout_id INTEGER NOT NULL REFERENCES deploy_rollouts(rollout_id) ON DELETE CASCADE,"
    "  time BIGINT NOT NULL,"
    "  step INTEGER NOT NULL,"
    "  verdict TEXT NOT NULL,"
    "  decision TEXT NOT NULL,"
    "  report TEXT NOT NULL);"
    "CREATE INDEX deploy_analyses_by_rollout ON deploy_analyses(rollout_id, analysis_id);"
    "CREATE TABLE deploy_alerts ("
    "  alert_id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  deployment TEXT NOT NULL REFERENCES deployments(name) ON DELETE CASCADE,"
    "  rule TEXT NOT NULL,"
    "  kind TEXT NOT NULL,"
    "  severity TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  fired_time BIGINT NOT NULL,"
    "  resolved_time BIGINT,"
    "  value REAL,"
    "  summary TEXT NOT NULL,"
    "  evidence TEXT NOT NULL,"
    "  pipeline_runs TEXT);"
    "CREATE INDEX deploy_alerts_by_deployment ON deploy_alerts(deployment, alert_id);";

static const struct kiln_migration deploy_migrations[] = {
    { 1, "deployments, rollouts, analyses, alerts", v1_sqlite, NULL },
};

const struct kiln_schema_component kiln_schema_deploy = {
    "deploy",
    deploy_migrations,
    sizeof(deploy_migrations) / sizeof(deploy_migrations[0]),
};
