/*
 * deploy_show.c - `kiln deploy list|status|wait|history|alerts|feedback`: reading deployments
 * and printing them as tables (or the server's JSON with --json).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/deploy_cli.h"
#include "cli/tracking_cli.h"
#include "core/buf.h"
#include "core/fs.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "core/time.h"

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s != NULL ? s : "";
}

static long long jint(const json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

static const char *num(const json_t *v, char *buf, size_t size)
{
    if (json_is_number(v))
        snprintf(buf, size, "%.4g", json_number_value(v));
    else
        snprintf(buf, size, "-");
    return buf;
}

static const char *when(long long ms, char *buf, size_t size)
{
    if (ms <= 0)
        snprintf(buf, size, "-");
    else
        kiln_time_format_short(ms, buf, size);
    return buf;
}

static void print_analysis(const json_t *a)
{
    static const char *const head[] = { "METRIC",  "VERDICT", "CANDIDATE", "STABLE",
                                        "SAMPLES", "RULE",    "DETAIL" };
    struct kiln_table *t = kiln_table_new(7, head);
    const json_t *m;
    size_t i;
    kiln_table_align_right(t, 2);
    kiln_table_align_right(t, 3);
    kiln_table_align_right(t, 4);
    json_array_foreach(json_object_get(a, "metrics"), i, m)
    {
        char o[32], b[32], s[32];
        const char *cells[7];
        snprintf(s, sizeof(s), "%lld", jint(m, "samples"));
        cells[0] = jstr(m, "metric");
        cells[1] = jstr(m, "verdict");
        cells[2] = num(json_object_get(m, "observed"), o, sizeof(o));
        cells[3] = num(json_object_get(m, "baseline"), b, sizeof(b));
        cells[4] = s;
        cells[5] = jstr(m, "rule");
        cells[6] = jstr(m, "detail");
        kiln_table_add(t, cells);
    }
    kiln_table_print(t, stdout);
    kiln_table_free(t);
}

static void print_replicas(const json_t *reps)
{
    static const char *const head[] = { "REPLICA", "PLAN",        "CURRENT", "LAST REPORT",
                                        "GAPS",    "LONGEST GAP", "DRIFT" };
    struct kiln_table *t;
    const json_t *r;
    size_t i;
    if (json_array_size(reps) == 0) {
        printf("replicas     none has reported yet\n");
        return;
    }
    t = kiln_table_new(7, head);
    json_array_foreach(reps, i, r)
    {
        char gen[24], last[32], gaps[24], gap[40], drift[80];
        const json_t *d = json_object_get(r, "drift");
        const char *cells[7];
        snprintf(gen, sizeof(gen), "%lld", jint(r, "generation"));
        snprintf(gaps, sizeof(gaps), "%lld", jint(r, "gaps"));
        kiln_cli_format_duration(jint(r, "gaps") > 0 ? jint(r, "max_gap_ms") : -1, gap,
                                 sizeof(gap));
        if (json_is_object(d))
            snprintf(drift, sizeof(drift), "%s (share %.2g of %lld rows)",
                     json_is_true(json_object_get(d, "dataset_drift")) ? "drift" : "no drift",
                     json_number_value(json_object_get(d, "drift_share")), jint(d, "rows"));
        else
            snprintf(drift, sizeof(drift), "-");
        cells[0] = jstr(r, "name");
        cells[1] = gen;
        cells[2] = json_is_true(json_object_get(r, "up_to_date")) ? "yes" : "no";
        cells[3] = when(jint(r, "last_report_time"), last, sizeof(last));
        cells[4] = gaps;
        cells[5] = gap;
        cells[6] = drift;
        kiln_table_add(t, cells);
    }
    kiln_table_print(t, stdout);
    kiln_table_free(t);
}

static void print_alert_states(const json_t *alerts)
{
    static const char *const head[] = { "RULE", "KIND", "STATE", "SINCE", "SUMMARY" };
    struct kiln_table *t;
    const json_t *a;
    size_t i;
    if (json_array_size(alerts) == 0)
        return;
    t = kiln_table_new(5, head);
    json_array_foreach(alerts, i, a)
    {
        char since[32];
        const char *cells[5] = { jstr(a, "rule"), jstr(a, "kind"), jstr(a, "state"),
                                 when(jint(a, "since"), since, sizeof(since)), jstr(a, "summary") };
        kiln_table_add(t, cells);
    }
    kiln_table_print(t, stdout);
    kiln_table_free(t);
}

static void print_last(const json_t *lr)
{
    char t[32], d1[32], d2[32];
    long long fc = jint(lr, "failed_check_time"), off = jint(lr, "traffic_off_time");
    long long al = jint(lr, "alias_time");
    printf("last rollout #%lld: v%lld %s at %s: %s\n", jint(lr, "id"),
           jint(lr, "candidate_version"), jstr(lr, "state"),
           when(jint(lr, "end_time"), t, sizeof(t)), jstr(lr, "reason"));
    if (fc > 0 && off > 0) {
        kiln_cli_format_duration(off - fc, d1, sizeof(d1));
        kiln_cli_format_duration(al > 0 ? al - fc : -1, d2, sizeof(d2));
        printf("             failed check -> candidate traffic off: %s, -> alias moved back: %s\n",
               d1, d2);
    }
}

void kiln_deploy_cli_print_status(const json_t *d)
{
    const json_t *envs = json_object_get(d, "environments"), *ro = json_object_get(d, "rollout");
    const json_t *plan = json_object_get(d, "plan"), *lr = json_object_get(d, "last_rollout");
    const json_t *cand = json_object_get(plan, "candidate"), *st, *ca;
    char buf[64];
    st = json_object_get(envs, "stable");
    ca = json_object_get(envs, "candidate");
    printf("deployment   %s: %s (model %s)\n", jstr(d, "name"), jstr(d, "state"), jstr(d, "model"));
    if (json_is_string(json_object_get(d, "message")))
        printf("message      %s\n", jstr(d, "message"));
    printf("stable       %s = %s\n", jstr(st, "name"),
           json_is_integer(json_object_get(st, "version"))
               ? (snprintf(buf, sizeof(buf), "v%lld", jint(st, "version")), buf)
               : "(none)");
    printf("candidate    %s = %s\n", jstr(ca, "name"),
           json_is_integer(json_object_get(ca, "version"))
               ? (snprintf(buf, sizeof(buf), "v%lld", jint(ca, "version")), buf)
               : "(none)");
    if (json_is_object(cand))
        printf("plan         generation %lld: v%lld %s\n", jint(plan, "generation"),
               jint(cand, "version"),
               json_is_true(json_object_get(cand, "shadow"))
                   ? "sees a copy of every request (shadow)"
                   : (snprintf(buf, sizeof(buf), "takes %.4g%% of requests",
                               json_number_value(json_object_get(cand, "weight"))),
                      buf));
    else
        printf("plan         generation %lld: every request to the stable version\n",
               jint(plan, "generation"));
    if (json_is_object(ro)) {
        char held[32], need[32];
        kiln_cli_format_duration(jint(ro, "step_elapsed_ms"), held, sizeof(held));
        kiln_cli_format_duration(jint(ro, "step_min_duration_ms"), need, sizeof(need));
        printf("rollout      #%lld of v%lld against v%lld: step %lld of %lld, %lld of %lld "
               "requests, held %s of %s, failed checks %lld (limit %lld)\n",
               jint(ro, "id"), jint(ro, "candidate_version"), jint(ro, "stable_version"),
               jint(ro, "step"), jint(ro, "steps"), jint(ro, "step_requests"),
               jint(ro, "step_min_requests"), held, need, jint(ro, "failed_checks"),
               jint(ro, "failure_limit"));
        if (json_is_object(json_object_get(ro, "last_analysis"))) {
            const json_t *a = json_object_get(json_object_get(ro, "last_analysis"), "analysis");
            printf("analysis     %s\n", jstr(a, "verdict"));
            print_analysis(a);
        }
    }
    if (json_is_object(lr))
        print_last(lr);
    print_replicas(json_object_get(d, "replicas"));
    print_alert_states(json_object_get(d, "alerts"));
}

static int get_json(struct kiln_http_client *c, const char *path, json_t **out)
{
    struct kiln_err err = { 0 };
    int rc = kiln_deploy_cli_call(c, "GET", path, NULL, out, &err);
    if (rc != KILN_OK)
        return kiln_cli_fail_rc(rc, &err);
    return KILN_EXIT_OK;
}

int kiln_deploy_cli_status(struct kiln_http_client *c, const char *name,
                           const struct deploy_opts *o)
{
    json_t *out;
    char path[600];
    int rc;
    kiln_deploy_cli_path(path, sizeof(path), name, "");
    if ((rc = get_json(c, path, &out)) != KILN_EXIT_OK)
        return rc;
    if (o->as_json)
        kiln_cli_print_json(out);
    else
        kiln_deploy_cli_print_status(json_object_get(out, "deployment"));
    json_decref(out);
    return KILN_EXIT_OK;
}

int kiln_deploy_cli_list(struct kiln_http_client *c, const struct deploy_opts *o)
{
    static const char *const head[] = { "NAME",      "MODEL",   "STATE",    "STABLE",
                                        "CANDIDATE", "TRAFFIC", "REPLICAS", "ALERTS" };
    struct kiln_table *t;
    const json_t *d;
    json_t *out;
    size_t i;
    int rc = get_json(c, "/api/kiln/v1/deployments", &out);
    if (rc != KILN_EXIT_OK)
        return rc;
    if (o->as_json) {
        kiln_cli_print_json(out);
        json_decref(out);
        return KILN_EXIT_OK;
    }
    t = kiln_table_new(8, head);
    json_array_foreach(json_object_get(out, "deployments"), i, d)
    {
        char s[24], ca[24], tr[48], reps[24], al[24];
        snprintf(s, sizeof(s), jint(d, "stable_version") > 0 ? "v%lld" : "-",
                 jint(d, "stable_version"));
        snprintf(ca, sizeof(ca), jint(d, "candidate_version") > 0 ? "v%lld" : "-",
                 jint(d, "candidate_version"));
        if (jint(d, "candidate_version") == 0)
            snprintf(tr, sizeof(tr), "-");
        else if (json_is_true(json_object_get(d, "shadow")))
            snprintf(tr, sizeof(tr), "shadow (step %lld/%lld)", jint(d, "step"), jint(d, "steps"));
        else
            snprintf(tr, sizeof(tr), "%.4g%% (step %lld/%lld)",
                     json_number_value(json_object_get(d, "weight")), jint(d, "step"),
                     jint(d, "steps"));
        snprintf(reps, sizeof(reps), "%lld", jint(d, "replicas"));
        snprintf(al, sizeof(al), "%lld", jint(d, "firing_alerts"));
        {
            const char *cells[8] = {
                jstr(d, "name"), jstr(d, "model"), jstr(d, "state"), s, ca, tr, reps, al
            };
            kiln_table_add(t, cells);
        }
    }
    if (kiln_table_rows(t) == 0)
        printf("no deployments (create one with 'kiln deploy apply -f FILE')\n");
    else
        kiln_table_print(t, stdout);
    kiln_table_free(t);
    json_decref(out);
    return KILN_EXIT_OK;
}

int kiln_deploy_cli_wait(struct kiln_http_client *c, const char *name, const struct deploy_opts *o)
{
    int64_t deadline = kiln_mono_ns() / 1000000 + o->timeout * 1000;
    char path[600];
    kiln_deploy_cli_path(path, sizeof(path), name, "");
    for (;;) {
        json_t *out;
        const json_t *d, *lr;
        int rc = get_json(c, path, &out);
        if (rc != KILN_EXIT_OK)
            return rc;
        d = json_object_get(out, "deployment");
        if (!json_is_object(json_object_get(d, "rollout"))) {
            const char *state;
            lr = json_object_get(d, "last_rollout");
            state = jstr(lr, "state");
            if (o->as_json)
                kiln_cli_print_json(lr);
            else if (json_is_object(lr))
                print_last(lr);
            else
                printf("deployment %s has had no rollout\n", name);
            rc = json_is_object(lr) && strcmp(state, "promoted") != 0 ? KILN_EXIT_FAIL
                                                                      : KILN_EXIT_OK;
            json_decref(out);
            return rc;
        }
        json_decref(out);
        if (kiln_mono_ns() / 1000000 >= deadline)
            return kiln_cli_fail("deploy wait: %s still rolling out after %lld s", name,
                                 (long long)o->timeout);
        kiln_sleep_ms(250);
    }
}

int kiln_deploy_cli_history(struct kiln_http_client *c, const char *name,
                            const struct deploy_opts *o)
{
    static const char *const head[] = { "ROLLOUT", "VERSION", "AGAINST", "STATE",
                                        "STEP",    "STARTED", "ENDED",   "REASON" };
    struct kiln_table *t;
    const json_t *r;
    json_t *out;
    char path[700], q[64];
    size_t i;
    int rc;
    if (o->rollout > 0)
        snprintf(q, sizeof(q), "/history?rollout=%lld", (long long)o->rollout);
    else
        snprintf(q, sizeof(q), "/history?max_results=%lld", (long long)o->limit);
    kiln_deploy_cli_path(path, sizeof(path), name, q);
    if ((rc = get_json(c, path, &out)) != KILN_EXIT_OK)
        return rc;
    if (o->as_json) {
        kiln_cli_print_json(out);
        json_decref(out);
        return KILN_EXIT_OK;
    }
    t = kiln_table_new(8, head);
    json_array_foreach(json_object_get(out, "rollouts"), i, r)
    {
        char id[24], v[24], s[24], st[24], a[32], b[32];
        const char *cells[8];
        snprintf(id, sizeof(id), "%lld", jint(r, "id"));
        snprintf(v, sizeof(v), "v%lld", jint(r, "candidate_version"));
        snprintf(s, sizeof(s), "v%lld", jint(r, "stable_version"));
        snprintf(st, sizeof(st), "%lld", jint(r, "step"));
        cells[0] = id;
        cells[1] = v;
        cells[2] = s;
        cells[3] = jstr(r, "state");
        cells[4] = st;
        cells[5] = when(jint(r, "start_time"), a, sizeof(a));
        cells[6] = when(jint(r, "end_time"), b, sizeof(b));
        cells[7] = jstr(r, "reason");
        kiln_table_add(t, cells);
    }
    if (kiln_table_rows(t) == 0)
        printf("deployment %s has had no rollout\n", name);
    else
        kiln_table_print(t, stdout);
    kiln_table_free(t);
    json_array_foreach(json_object_get(out, "analyses"), i, r)
    {
        char tm[32];
        const json_t *a = json_object_get(json_object_get(r, "report"), "analysis");
        printf("\n%s  step %lld: %s -> %s\n", when(jint(r, "time"), tm, sizeof(tm)),
               jint(r, "step"), jstr(r, "verdict"), jstr(r, "decision"));
        print_analysis(a);
    }
    json_decref(out);
    return KILN_EXIT_OK;
}

int kiln_deploy_cli_alerts(struct kiln_http_client *c, const char *name,
                           const struct deploy_opts *o)
{
    static const char *const head[] = { "ID",    "DEPLOYMENT", "RULE",   "STATE",
                                        "FIRED", "RESOLVED",   "SUMMARY" };
    struct kiln_table *t;
    const json_t *a;
    json_t *out;
    char path[700], q[64];
    size_t i;
    int rc;
    snprintf(q, sizeof(q), "/alerts?state=%s&max_results=%lld", o->firing ? "firing" : "all",
             (long long)o->limit);
    if (name != NULL)
        kiln_deploy_cli_path(path, sizeof(path), name, q);
    else
        snprintf(path, sizeof(path), "/api/kiln/v1%s", q);
    if ((rc = get_json(c, path, &out)) != KILN_EXIT_OK)
        return rc;
    if (o->as_json) {
        kiln_cli_print_json(out);
        json_decref(out);
        return KILN_EXIT_OK;
    }
    t = kiln_table_new(7, head);
    json_array_foreach(json_object_get(out, "alerts"), i, a)
    {
        char id[24], f[32], r[32];
        const char *cells[7];
        snprintf(id, sizeof(id), "%lld", jint(a, "id"));
        cells[0] = id;
        cells[1] = jstr(a, "deployment");
        cells[2] = jstr(a, "rule");
        cells[3] = jstr(a, "state");
        cells[4] = when(jint(a, "fired_time"), f, sizeof(f));
        cells[5] = when(jint(a, "resolved_time"), r, sizeof(r));
        cells[6] = jstr(a, "summary");
        kiln_table_add(t, cells);
    }
    if (kiln_table_rows(t) == 0)
        printf("no alerts\n");
    else
        kiln_table_print(t, stdout);
    kiln_table_free(t);
    json_decref(out);
    return KILN_EXIT_OK;
}
