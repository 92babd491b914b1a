/*
 * rules.c - Airflow's trigger rules, task instance states and run states.
 *
 * A task instance's fate is decided from counts of its direct upstreams' final states, exactly
 * as Airflow's TriggerRuleDep does (with flag_upstream_failed): first a rule may settle the
 * task as skipped or upstream_failed, else it may run, else it waits. A task without upstreams
 * always runs. A run ends when every task instance is final; it failed when a leaf (a task
 * nothing depends on) failed or is upstream_failed, and succeeded otherwise (Airflow's
 * DagRun.update_state). Pure functions; thread-safe.
 */
#include <string.h>

#include "pipeline/pipeline_int.h"

static const char *const rule_names[] = {
    [KILN_TR_ALL_SUCCESS] = "all_success",
    [KILN_TR_ALL_FAILED] = "all_failed",
    [KILN_TR_ALL_DONE] = "all_done",
    [KILN_TR_ALL_SKIPPED] = "all_skipped",
    [KILN_TR_ONE_SUCCESS] = "one_success",
    [KILN_TR_ONE_FAILED] = "one_failed",
    [KILN_TR_ONE_DONE] = "one_done",
    [KILN_TR_NONE_FAILED] = "none_failed",
    [KILN_TR_NONE_FAILED_MIN_ONE_SUCCESS] = "none_failed_min_one_success",
    [KILN_TR_NONE_SKIPPED] = "none_skipped",
    [KILN_TR_ALWAYS] = "always",
};

static const char *const ti_names[] = {
    [KILN_TI_NONE] = "none",
    [KILN_TI_SCHEDULED] = "scheduled",
    [KILN_TI_QUEUED] = "queued",
    [KILN_TI_RUNNING] = "running",
    [KILN_TI_UP_FOR_RETRY] = "up_for_retry",
    [KILN_TI_SUCCESS] = "success",
    [KILN_TI_FAILED] = "failed",
    [KILN_TI_UPSTREAM_FAILED] = "upstream_failed",
    [KILN_TI_SKIPPED] = "skipped",
};

static const char *const run_names[] = {
    [KILN_RUN_QUEUED] = "queued", [KILN_RUN_RUNNING] = "running",   [KILN_RUN_SUCCESS] = "success",
    [KILN_RUN_FAILED] = "failed", [KILN_RUN_CANCELED] = "canceled",
};

const char *kiln_pl_rule_name(enum kiln_pl_rule r)
{
    return (unsigned)r < KILN_ARRAY_LEN(rule_names) ? rule_names[r] : "?";
}

int kiln_pl_rule_parse(const char *s, enum kiln_pl_rule *out)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(rule_names); i++) {
        if (strcmp(s, rule_names[i]) == 0) {
            *out = (enum kiln_pl_rule)i;
            return KILN_OK;
        }
    }
    return KILN_EINVAL;
}

const char *kiln_pl_ti_name(enum kiln_pl_ti s)
{
    return (unsigned)s < KILN_ARRAY_LEN(ti_names) ? ti_names[s] : "?";
}

int kiln_pl_ti_parse(const char *s, enum kiln_pl_ti *out)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(ti_names); i++) {
        if (s != NULL && strcmp(s, ti_names[i]) == 0) {
            *out = (enum kiln_pl_ti)i;
            return KILN_OK;
        }
    }
    return KILN_EINVAL;
}

int kiln_pl_ti_final(enum kiln_pl_ti s)
{
    return s == KILN_TI_SUCCESS || s == KILN_TI_FAILED || s == KILN_TI_UPSTREAM_FAILED ||
           s == KILN_TI_SKIPPED;
}

const char *kiln_pl_run_state_name(enum kiln_pl_run_state s)
{
    return (unsigned)s < KILN_ARRAY_LEN(run_names) ? run_names[s] : "?";
}

int kiln_pl_run_state_parse(const char *s, enum kiln_pl_run_state *out)
{
    for (size_t i = 0; i < KILN_ARRAY_LEN(run_names); i++) {
        if (s != NULL && strcmp(s, run_names[i]) == 0) {
            *out = (enum kiln_pl_run_state)i;
            return KILN_OK;
        }
    }
    return KILN_EINVAL;
}

void kiln_pl_upcount_add(struct kiln_pl_upcount *c, enum kiln_pl_ti final_state)
{
    switch (final_state) {
    case KILN_TI_SUCCESS:
        c->success++;
        break;
    case KILN_TI_FAILED:
        c->failed++;
        break;
    case KILN_TI_UPSTREAM_FAILED:
        c->upstream_failed++;
        break;
    case KILN_TI_SKIPPED:
        c->skipped++;
        break;
    default:
        return;
    }
    c->done++;
}

/* The state a rule forces before the task could run (Airflow's flag_upstream_failed step). */
static enum kiln_pl_verdict settle(enum kiln_pl_rule rule, const struct kiln_pl_upcount *c)
{
    int all_done = c->done >= c->total;
    int any_failed = c->failed > 0 || c->upstream_failed > 0;

    switch (rule) {
    case KILN_TR_ALL_SUCCESS:
        if (any_failed)
            return KILN_PL_UPSTREAM_FAILED;
        if (c->skipped > 0)
            return KILN_PL_SKIP;
        break;
    case KILN_TR_ALL_FAILED:
        if (c->success > 0 || c->skipped > 0)
            return KILN_PL_SKIP;
        break;
    case KILN_TR_ONE_SUCCESS:
        if (all_done && c->done == c->skipped)
            return KILN_PL_SKIP;
        if (all_done && c->success <= 0)
            return KILN_PL_UPSTREAM_FAILED;
        break;
    case KILN_TR_ONE_FAILED:
        if (all_done && !any_failed)
            return KILN_PL_SKIP;
        break;
    case KILN_TR_ONE_DONE:
        if (all_done && !(c->failed > 0 || c->success > 0))
            return KILN_PL_SKIP;
        break;
    case KILN_TR_NONE_FAILED:
        if (any_failed)
            return KILN_PL_UPSTREAM_FAILED;
        break;
    case KILN_TR_NONE_FAILED_MIN_ONE_SUCCESS:
        if (any_failed)
            return KILN_PL_UPSTREAM_FAILED;
        if (c->skipped == c->total)
            return KILN_PL_SKIP;
        break;
    case KILN_TR_NONE_SKIPPED:
        if (c->skipped > 0)
            return KILN_PL_SKIP;
        break;
    case KILN_TR_ALL_SKIPPED:
        if (c->success > 0 || c->failed > 0 || c->upstream_failed > 0)
            return KILN_PL_SKIP;
        break;
    case KILN_TR_ALL_DONE:
    case KILN_TR_ALWAYS:
        break;
    }
    return KILN_PL_WAIT;
}

enum kiln_pl_verdict kiln_pl_rule_eval(enum kiln_pl_rule rule, const struct kiln_pl_upcount *c)
{
    enum kiln_pl_verdict v;
    int met = 0;

    if (c->total == 0 || rule == KILN_TR_ALWAYS)
        return KILN_PL_RUN;
    v = settle(rule, c);
    if (v != KILN_PL_WAIT)
        return v;
    switch (rule) {
    case KILN_TR_ALL_SUCCESS:
        met = c->success >= c->total;
        break;
    case KILN_TR_ALL_FAILED:
        met = c->failed + c->upstream_failed >= c->total;
        break;
    case KILN_TR_ALL_DONE:
        met = c->done >= c->total;
        break;
    case KILN_TR_ALL_SKIPPED:
        met = c->skipped >= c->total;
        break;
    case KILN_TR_ONE_SUCCESS:
        met = c->success > 0;
        break;
    case KILN_TR_ONE_FAILED:
        met = c->failed > 0 || c->upstream_failed > 0;
        break;
    case KILN_TR_ONE_DONE:
        met = c->success + c->failed > 0;
        break;
    case KILN_TR_NONE_FAILED:
    case KILN_TR_NONE_FAILED_MIN_ONE_SUCCESS:
        met = c->success + c->skipped >= c->total;
        break;
    case KILN_TR_NONE_SKIPPED:
        met = c->done >= c->total;
        break;
    case KILN_TR_ALWAYS:
        met = 1;
        break;
    }
    return met ? KILN_PL_RUN : KILN_PL_WAIT;
}

enum kiln_pl_run_state kiln_pl_run_outcome(const enum kiln_pl_ti *states, const int *is_leaf,
                                           size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (is_leaf[i] && (states[i] == KILN_TI_FAILED || states[i] == KILN_TI_UPSTREAM_FAILED))
            return KILN_RUN_FAILED;
    return KILN_RUN_SUCCESS;
}
