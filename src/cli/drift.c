/*
 * drift.c - `kiln drift --reference REF --current CUR`: per-column drift statistics and the
 * data-set verdict with Evidently's default methods and thresholds (docs/drift.md). REF and
 * CUR are data files (CSV, JSON Lines) or kiln profiles; two data files are read at once
 * on two threads. Output: a table, --json (stable schema) or --html (self-contained).
 *
 * With --run-id the result is also logged to a tracking run (quality_track.c).
 *
 * Exit codes: 0 no data-set drift, 1 data-set drift, 2 usage or input error (and a failure
 * to log to the run).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/quality_cli.h"
#include "cli/quality_track.h"
#include "core/mem.h"
#include "core/str.h"
#include "quality/drift.h"
#include "quality/profile.h"

static const char USAGE[] =
    "usage: kiln drift --reference REF --current CUR [--columns A,B] [--method M]\n"
    "                  [--threshold T] [--drift-share S] [--bins sturges|quantile:N]\n"
    "                  [--column-method COL=M] [--column-threshold COL=T]\n"
    "                  [--json | --html] [--out FILE] [--format F] [--delimiter C]\n"
    "                  [--run-id ID [--tracking-uri URI]]\n"
    "\n"
    "Measures distribution drift of every column of CUR against REF (a data file or a\n"
    "profile from `kiln profile`). By default each column's test is Evidently's choice:\n"
    "reference <= 1000 values: ks (numeric), chisquare (3+ values), z (2 values);\n"
    "larger: wasserstein normed (numeric, 6+ values) or jensenshannon; thresholds 0.05\n"
    "for p-values, 0.1 for distances. The data set drifts when at least half the columns do.\n"
    "\n"
    "  --method M            ks, chisquare, z, wasserstein, jensenshannon, psi, kl_div\n"
    "  --threshold T         threshold for the chosen method(s)\n"
    "  --drift-share S       share of drifted columns that means data-set drift (0.5)\n"
    "  --bins B              sturges (Evidently's, default for data) or quantile:N\n"
    "                        (N reference-quantile bins; default for a profile reference)\n"
    "  --columns A,B         only these columns (repeatable)\n"
    "  --column-method C=M   method for one column (repeatable)\n"
    "  --column-threshold C=T  threshold for one column (repeatable)\n"
    "  --json | --html       machine-readable JSON or a self-contained HTML report\n"
    "  --out FILE            write the report to FILE instead of stdout\n"
    "  --run-id ID           also log metrics and the HTML report to this tracking run\n"
    "  --tracking-uri URI    tracking server (default $KILN_TRACKING_URI, $MLFLOW_TRACKING_URI)\n"
    "\n"
    "Exit: 0 no data-set drift, 1 data-set drift, 2 usage or input error.\n"
    "Docs: docs/drift.md\n";

struct side {
    struct kiln_profile *profile;
    struct kiln_table_reader *reader;
    struct kiln_drift_data *data;
};

static int open_side(const char *path, const struct kiln_table_opts *topts, struct side *s,
                     struct kiln_err *err)
{
    if (strcmp(path, "-") != 0 && kiln_profile_sniff(path)) {
        int rc = kiln_profile_load(path, &s->profile, err);
        if (rc != KILN_OK)
            return rc;
        return kiln_drift_data_from_profile(s->profile, &s->data, err);
    }
    return kiln_table_reader_open(path, topts, &s->reader, err);
}

static int parse_overrides(const struct kiln_strv *methods, const struct kiln_strv *thresholds,
                           struct kiln_drift_colopt **out, size_t *n, struct kiln_err *err)
{
    struct kiln_drift_colopt *o = kiln_calloc(methods->n + thresholds->n + 1, sizeof(*o));
    if (o == NULL)
        return kiln_err_set(err, KILN_ENOMEM, "out of memory");
    *out = o;
    for (size_t i = 0; i < methods->n + thresholds->n; i++) {
        int is_m = i < methods->n;
        const char *arg = is_m ? methods->v[i] : thresholds->v[i - methods->n];
        char *eq = strchr(arg, '=');
        if (eq == NULL || eq == arg)
            return kiln_err_set(err, KILN_EINVAL, "option --column-%s: '%s' is not COLUMN=%s",
                                is_m ? "method" : "threshold", arg, is_m ? "METHOD" : "VALUE");
        *eq = '\0';
        o[*n].column = arg;
        o[*n].method = KILN_DRIFT_AUTO;
        o[*n].threshold = NAN;
        if (is_m && kiln_drift_method_parse(eq + 1, &o[*n].method) != KILN_OK)
            return kiln_err_set(err, KILN_EINVAL, "option --column-method: unknown method '%s'",
                                eq + 1);
        if (!is_m && kiln_parse_double(eq + 1, strlen(eq + 1), &o[*n].threshold) != KILN_OK)
            return kiln_err_set(err, KILN_EINVAL, "option --column-threshold: '%s' is not a number",
                                eq + 1);
        (*n)++;
    }
    return KILN_OK;
}

static int parse_bins(const char *s, struct kiln_drift_opts *o, struct kiln_err *err)
{
    int64_t n;
    if (s == NULL)
        return KILN_OK;
    if (kiln_cstr_ieq(s, "sturges")) {
        o->binning = KILN_BINS_STURGES;
        return KILN_OK;
    }
    if (kiln_cstr_has_prefix(s, "quantile:") &&
        kiln_parse_int64(s + 9, strlen(s + 9), &n) == KILN_OK && n >= 2 && n <= 10000) {
        o->binning = KILN_BINS_QUANTILE;
        o->nbins = (uint32_t)n;
        return KILN_OK;
    }
    return kiln_err_set(err, KILN_EINVAL,
                        "option --bins: '%s' is not 'sturges' or 'quantile:N' (2 <= N <= 10000)",
                        s);
}

static void print_table(const struct kiln_drift_result *r)
{
    static const char *const hdr[] = { "column",  "type",      "method", "statistic",
                                       "p-value", "threshold", "drift" };
    struct kiln_table *t = kiln_table_new(7, hdr);
    if (t == NULL)
        return;
    for (size_t c = 3; c < 6; c++)
        kiln_table_align_right(t, c);
    for (size_t i = 0; i < r->ncols; i++) {
        const struct kiln_drift_column *c = &r->cols[i];
        char st[32], p[32], th[32];
        const char *cells[7];
        kiln_qcli_num(c->statistic, st, sizeof(st));
        kiln_qcli_num(c->p_value, p, sizeof(p));
        kiln_qcli_num(c->error != NULL ? NAN : c->threshold, th, sizeof(th));
        cells[0] = c->name;
        cells[1] = c->type;
        cells[2] = c->error != NULL ? "-" : kiln_drift_method_name(c->method);
        cells[3] = st;
        cells[4] = p;
        cells[5] = th;
        cells[6] = c->error != NULL ? "error" : c->drifted ? "DRIFT" : "no";
        kiln_table_add(t, cells);
    }
    printf("drift of %s (%llu rows) against %s (%llu rows)\n", r->current,
           (unsigned long long)r->current_rows, r->reference,
           (unsigned long long)r->reference_rows);
    kiln_table_print(t, stdout);
    kiln_table_free(t);
    for (size_t i = 0; i < r->ncols; i++)
        if (r->cols[i].error != NULL)
            printf("column '%s': %s\n", r->cols[i].name, r->cols[i].error);
    for (size_t i = 0; i < r->nskipped; i++)
        printf("skipped '%s': %s\n", r->skipped[i], r->skipped_reason[i]);
    printf("dataset drift: %s (%zu of %zu columns drifted, share %.3g, threshold %.3g)\n",
           r->dataset_drift ? "YES" : "no", r->n_drifted, r->n_checked, r->drift_share,
           r->drift_share_threshold);
}

int kiln_cmd_drift(int argc, char **argv)
{
    const char *ref_path = NULL, *cur_path = NULL, *method = NULL, *threshold = NULL;
    const char *share = NULL, *bins = NULL, *out = NULL, *format = NULL, *delimiter = NULL;
    const char *tracking = NULL, *run_id = NULL;
    int json = 0, html = 0, no_header = 0;
    struct kiln_strv pos = { 0 }, cols_raw = { 0 }, cols = { 0 }, cm = { 0 }, ct = { 0 };
    struct kiln_opt opts[] = {
        { "reference", 'r', KILN_OPT_STR, &ref_path },
        { "current", 'c', KILN_OPT_STR, &cur_path },
        { "columns", 0, KILN_OPT_MULTI, &cols_raw },
        { "method", 'm', KILN_OPT_STR, &method },
        { "threshold", 't', KILN_OPT_STR, &threshold },
        { "drift-share", 0, KILN_OPT_STR, &share },
        { "bins", 0, KILN_OPT_STR, &bins },
        { "column-method", 0, KILN_OPT_MULTI, &cm },
        { "column-threshold", 0, KILN_OPT_MULTI, &ct },
        { "json", 0, KILN_OPT_FLAG, &json },
        { "html", 0, KILN_OPT_FLAG, &html },
        { "out", 'o', KILN_OPT_STR, &out },
        { "format", 0, KILN_OPT_STR, &format },
        { "delimiter", 'd', KILN_OPT_STR, &delimiter },
        { "no-header", 0, KILN_OPT_FLAG, &no_header },
        { "tracking-uri", 0, KILN_OPT_STR, &tracking },
        { "run-id", 0, KILN_OPT_STR, &run_id },
    };
    struct kiln_err err = { 0 };
    struct kiln_table_opts topts;
    struct kiln_drift_opts dopts;
    struct kiln_drift_colopt *over = NULL;
    struct side ref = { 0 }, cur = { 0 };
    struct kiln_drift_result *res = NULL;
    struct kiln_qcli_progress prog;
    struct kiln_buf b;
    int rc, code = KILN_EXIT_USAGE;

    kiln_buf_init(&b, (size_t)1 << 31);
    kiln_qcli_progress_init(&prog);
    kiln_drift_opts_init(&dopts);
    rc = kiln_opts_parse(argc, argv, opts, KILN_ARRAY_LEN(opts), &pos, &err);
    if (rc == KILN_OPTS_HELP) {
        fputs(USAGE, stdout);
        code = KILN_EXIT_OK;
        goto out;
    }
    if (rc != KILN_OK)
        goto fail;
    if (ref_path == NULL || cur_path == NULL || pos.n != 0) {
        code = kiln_cli_fail("drift: --reference and --current are required (see 'kiln drift "
                             "--help')");
        goto out;
    }
    if (json && html) {
        code = kiln_cli_fail("drift: choose one of --json and --html");
        goto out;
    }
    if (tracking != NULL && run_id == NULL) {
        code = kiln_cli_fail("drift: --tracking-uri needs --run-id (the run to log to)");
        goto out;
    }
    if (method != NULL && kiln_drift_method_parse(method, &dopts.method) != KILN_OK) {
        code = kiln_cli_fail("drift: unknown --method '%s' (ks, chisquare, z, wasserstein, "
                             "jensenshannon, psi, kl_div)",
                             method);
        goto out;
    }
    if ((threshold != NULL &&
         kiln_parse_double(threshold, strlen(threshold), &dopts.threshold) != KILN_OK) ||
        (share != NULL && (kiln_parse_double(share, strlen(share), &dopts.drift_share) != KILN_OK ||
                           !(dopts.drift_share >= 0 && dopts.drift_share <= 1)))) {
        code = kiln_cli_fail("drift: --threshold must be a number and --drift-share a number "
                             "in [0, 1]");
        goto out;
    }
    if ((rc = parse_bins(bins, &dopts, &err)) != KILN_OK ||
        (rc = kiln_qcli_split(&cols_raw, &cols)) != KILN_OK ||
        (rc = parse_overrides(&cm, &ct, &over, &dopts.nper_column, &err)) != KILN_OK ||
        (rc = kiln_qcli_table_opts(format, delimiter, no_header, &topts, &err)) != KILN_OK)
        goto fail;
    dopts.per_column = over;
    if (cols.n > 0) {
        dopts.columns = cols.v;
        dopts.ncolumns = cols.n;
    }
    if ((rc = open_side(ref_path, &topts, &ref, &err)) != KILN_OK ||
        (rc = open_side(cur_path, &topts, &cur, &err)) != KILN_OK)
        goto fail;
    kiln_qcli_progress_attach(&prog, ref.reader, ref_path);
    kiln_qcli_progress_attach(&prog, cur.reader, cur_path);
    if (ref.reader != NULL && cur.reader != NULL)
        rc = kiln_drift_data_load2(ref.reader, cur.reader, dopts.columns, dopts.ncolumns, &ref.data,
                                   &cur.data, &err);
    else if (ref.reader != NULL)
        rc = kiln_drift_data_load(ref.reader, dopts.columns, dopts.ncolumns, &ref.data, &err);
    else if (cur.reader != NULL)
        rc = kiln_drift_data_load(cur.reader, dopts.columns, dopts.ncolumns, &cur.data, &err);
    kiln_qcli_progress_done(&prog);
    prog.on = 0;
    if (rc != KILN_OK || (rc = kiln_drift_compute(ref.data, cur.data, &dopts, &res, &err)))
        goto fail;
    if (json)
        rc = kiln_drift_result_json(res, &b);
    else if (html)
        rc = kiln_drift_result_html(res, &b);
    if (rc == KILN_OK && (json || html)) {
        if (json)
            rc = kiln_buf_putc(&b, '\n');
        if (rc == KILN_OK)
            rc = kiln_qcli_emit(out, &b, &err);
    } else if (rc == KILN_OK) {
        print_table(res);
    }
    if (rc != KILN_OK)
        goto fail;
    if (run_id != NULL && (rc = kiln_qtrack_drift(tracking, run_id, res, &err)) != KILN_OK)
        goto fail;
    code = res->dataset_drift ? KILN_EXIT_FAIL : KILN_EXIT_OK;
    goto out;
fail:
    code = kiln_cli_fail_rc(rc, &err);
out:
    if (prog.on)
        kiln_qcli_progress_done(&prog);
    kiln_drift_result_free(res);
    kiln_drift_data_free(ref.data);
    kiln_drift_data_free(cur.data);
    kiln_table_reader_free(ref.reader);
    kiln_table_reader_free(cur.reader);
    kiln_profile_free(ref.profile);
    kiln_profile_free(cur.profile);
    kiln_free(over);
    kiln_buf_release(&b);
    kiln_strv_release(&pos);
    kiln_strv_release(&cols_raw);
    kiln_strv_release(&cols);
    kiln_strv_release(&cm);
    kiln_strv_release(&ct);
    return code;
}
