/*
 * sched_cron.c - scheduled runs and backfills.
 *
 * Each applied pipeline with a schedule has a cursor in the store (pipelines.last_fire): the
 * logical date of the last scheduled run created. A fire time after the cursor that is due
 * (not in the future) makes a run whose logical date is that fire time (Airflow 3's
 * cron-as-trigger). Without catchup only the most recent due fire time gets a run, however
 * many were missed (while the server was down, say); with catchup every missed fire time
 * does, oldest first, at most MAX_PER_PASS per loop pass. Scheduled and backfilled runs carry
 * the dedup key "logical:<ms>", so one logical date never gets two such runs.
 */
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/mem.h"
#include "core/time.h"
#include "pipeline/sched_int.h"
#include "store/store.h"

#define MAX_PER_PASS 10
#define MAX_BACKFILL 1000

static void free_scheds(struct kiln_pl_sched *s)
{
    for (size_t i = 0; i < s->nscheds; i++) {
        kiln_free(s->scheds[i].name);
        kiln_pl_spec_free(s->scheds[i].spec);
    }
    kiln_free(s->scheds);
    s->scheds = NULL;
    s->nscheds = 0;
}

int kiln_sched_load_schedules(struct kiln_pl_sched *s, struct kiln_err *err)
{
    struct kiln_tx *tx;
    struct kiln_stmt *st = NULL;
    json_t *rows = json_array();
    size_t i;
    json_t *row;
    int rc;

    if (rows == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    rc = kiln_store_begin(s->store, KILN_TX_READ, &tx, err);
    if (rc != KILN_OK) {
        json_decref(rows);
        return rc;
    }
    rc = kiln_tx_prepare(tx,
                         "SELECT name, current_version, last_fire FROM pipelines WHERE "
                         "current_version IS NOT NULL AND paused = 0 AND last_fire IS NOT NULL",
                         &st, err);
    while (rc == KILN_OK && (rc = kiln_stmt_step(st, err)) == KILN_STMT_ROW) {
        rc = json_array_append_new(rows, json_pack("[s,I,I]", kiln_stmt_text(st, 0),
                                                   (json_int_t)kiln_stmt_int64(st, 1),
                                                   (json_int_t)kiln_stmt_int64(st, 2))) == 0
                 ? KILN_OK
                 : kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    kiln_stmt_finish(st);
    kiln_store_rollback(tx);
    if (rc < 0) {
        json_decref(rows);
        return rc;
    }
    free_scheds(s);
    s->scheds = kiln_calloc(json_array_size(rows) + 1, sizeof(*s->scheds));
    if (s->scheds == NULL) {
        json_decref(rows);
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    }
    json_array_foreach(rows, i, row)
    {
        struct sched_cron *c = &s->scheds[s->nscheds];
        const char *name = json_string_value(json_array_get(row, 0));
        struct kiln_err e = { 0 };
        int version = (int)json_integer_value(json_array_get(row, 1));
        if (kiln_pl_store_load_version(s->store, name, version, &c->spec, &e) != KILN_OK) {
            kiln_log_error("pipeline %s: cannot load version %d: %s", name, version, e.msg);
            continue;
        }
        if (c->spec->cron_expr == NULL) {
            kiln_pl_spec_free(c->spec);
            c->spec = NULL;
            continue;
        }
        c->name = kiln_strdup(name);
        c->version = version;
        c->last_fire_ms = json_integer_value(json_array_get(row, 2));
        if (c->name == NULL ||
            kiln_pl_spec_next_fire(c->spec, c->last_fire_ms, &c->next_fire_ms) != KILN_OK) {
            kiln_free(c->name);
            kiln_pl_spec_free(c->spec);
            c->spec = NULL;
            continue;
        }
        s->nscheds++;
    }
    json_decref(rows);
    return KILN_OK;
}

/* The latest fire time in (after, now], looking back in growing windows. KILN_ENOENT. */
static int latest_due(const struct kiln_pl_spec *spec, int64_t after, int64_t now, int64_t *out)
{
    static const int64_t windows[] = { 3600000LL,    86400000LL,    604800000LL,
                                       2764800000LL, 31622400000LL, 158112000000LL };
    for (size_t w = 0; w < KILN_ARRAY_LEN(windows); w++) {
        int64_t from = now - windows[w] > after ? now - windows[w] : after, t = from, next,
                found = -1;
        while (kiln_pl_spec_next_fire(spec, t, &next) == KILN_OK && next <= now) {
            found = next;
            t = next;
        }
        if (found >= 0) {
            *out = found;
            return KILN_OK;
        }
        if (from == after)
            break;
    }
    return KILN_ENOENT;
}

/* Creates the run for one fire time; KILN_EEXIST (already there) counts as done. */
int kiln_pl_create_logical_run(struct kiln_store *store, const struct kiln_pl_spec *spec,
                               int version, const char *trigger, int64_t logical_ms,
                               const char *owner, char run_id[33], struct kiln_err *err)
{
    char key[64];
    json_t *params = NULL;
    struct kiln_pl_new_run nr;
    int rc = kiln_pl_params_resolve(spec, NULL, &params, err);
    if (rc != KILN_OK)
        return rc;
    snprintf(key, sizeof(key), "logical:%lld", (long long)logical_ms);
    nr.trigger = trigger;
    nr.trigger_info = NULL;
    nr.params = params;
    nr.logical_ms = logical_ms;
    nr.owner = owner;
    nr.dedup_key = key;
    rc = kiln_pl_store_create_run(store, spec, version, &nr, run_id, err);
    json_decref(params);
    return rc;
}

static int advance_cursor(struct kiln_pl_sched *s, struct sched_cron *c, int64_t fire,
                          struct kiln_err *err)
{
    struct kiln_tx *tx;
    int rc = kiln_store_begin(s->store, KILN_TX_WRITE, &tx, err);
    if (rc != KILN_OK)
        return rc;
    rc = kiln_pl_exec(tx, "UPDATE pipelines SET last_fire = ? WHERE name = ? AND last_fire < ?",
                      err, "iti", fire, c->name, fire);
    if (rc != KILN_OK) {
        kiln_store_rollback(tx);
        return rc;
    }
    return kiln_store_commit(tx, err);
}

void kiln_sched_fire_schedules(struct kiln_pl_sched *s, int64_t now, int64_t *next_wake)
{
    int created = 0;
    for (size_t i = 0; i < s->nscheds; i++) {
        struct sched_cron *c = &s->scheds[i];
        for (int n = 0; n < MAX_PER_PASS && c->next_fire_ms <= now; n++) {
            struct kiln_err e = { 0 };
            int64_t fire = c->next_fire_ms;
            char id[33];
            int rc;
            if (!c->spec->catchup && latest_due(c->spec, c->last_fire_ms, now, &fire) != KILN_OK)
                fire = c->next_fire_ms;
            rc = kiln_pl_create_logical_run(s->store, c->spec, c->version, "schedule", fire,
                                            s->owner, id, &e);
            if (rc == KILN_OK) {
                created++;
                kiln_log_info("pipeline %s: scheduled run %s for %lld", c->name, id,
                              (long long)fire);
            } else if (rc != KILN_EEXIST) {
                kiln_log_error("pipeline %s: cannot create the scheduled run: %s", c->name,
                               kiln_err_msg(&e, rc));
                break; /* the store is unwell: try again next pass */
            }
            kiln_err_clear(&e);
            if (advance_cursor(s, c, fire, &e) != KILN_OK) {
                kiln_log_error("pipeline %s: cannot move the schedule: %s", c->name, e.msg);
                break;
            }
            c->last_fire_ms = fire;
            if (kiln_pl_spec_next_fire(c->spec, fire, &c->next_fire_ms) != KILN_OK)
                c->next_fire_ms = INT64_MAX;
        }
        if (c->next_fire_ms < *next_wake)
            *next_wake = c->next_fire_ms;
    }
    if (created > 0 && kiln_sched_sync(s, 0, NULL) != KILN_OK)
        kiln_log_warn("pipelines: cannot load the scheduled runs yet");
}

int kiln_pl_backfill(struct kiln_store *store, const struct kiln_pl_spec *spec, int version,
                     int64_t from_ms, int64_t to_ms, json_t *created, int *skipped,
                     struct kiln_err *err)
{
    int64_t t = from_ms - 1, next;
    int n = 0, rc = KILN_OK;
    *skipped = 0;
    if (spec->cron_expr == NULL)
        return kiln_err_set(err, KILN_EINVAL,
                            "pipeline '%s' has no schedule: a backfill needs one to know its "
                            "logical dates",
                            spec->name);
    if (to_ms < from_ms)
        return kiln_err_set(err, KILN_EINVAL, "the backfill ends before it starts");
    while (kiln_pl_spec_next_fire(spec, t, &next) == KILN_OK && next <= to_ms) {
        if (++n > MAX_BACKFILL)
            return kiln_err_set(err, KILN_EINVAL, "the backfill covers more than %d runs; split it",
                                MAX_BACKFILL);
        t = next;
    }
    t = from_ms - 1;
    while (rc == KILN_OK && kiln_pl_spec_next_fire(spec, t, &next) == KILN_OK && next <= to_ms) {
        char id[33];
        struct kiln_err e = { 0 };
        rc =
            kiln_pl_create_logical_run(store, spec, version, "backfill", next, "scheduler", id, &e);
        if (rc == KILN_EEXIST) {
            (*skipped)++;
            rc = KILN_OK;
        } else if (rc == KILN_OK) {
            if (json_array_append_new(created, json_string(id)) != 0)
                rc = kiln_err_set(err, KILN_ENOMEM, "out of memory");
        } else {
            rc = kiln_err_set(err, rc, "%s", e.msg);
        }
        t = next;
    }
    return rc;
}
