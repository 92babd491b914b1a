/*
 * validate.c - `kiln validate DATA --profile profile.json [--expectations FILE.yaml]`:
 * a data gate. Runs an expectation suite (the file given, or the one suggested from the
 * profile) over DATA in one pass and reports per expectation, as a table, --json (Great
 * Expectations result keys) or --html (self-contained, a histogram per column).
 * `kiln validate --suggest --profile profile.json` prints the suggested suite instead.
 *
 * With --run-id the result is also logged to a tracking run (quality_track.c).
 *
 * Exit codes: 0 every expectation passed, 1 some failed, 2 usage or input error (and a
 * failure to log to the run).
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/quality_cli.h"
#include "cli/quality_track.h"
#include "core/mem.h"
#include "quality/expect.h"
#include "quality/profile.h"

static const char USAGE[] =
    "usage: kiln validate DATA [--profile PROFILE] [--expectations FILE.yaml]\n"
    "                     [--json | --html] [--out FILE] [--format F] [--delimiter C]\n"
    "                     [--run-id ID [--tracking-uri URI]]\n"
    "       kiln validate --suggest --profile PROFILE [--out FILE.yaml]\n"
    "\n"
    "Checks DATA (CSV or JSON Lines) against expectations: the YAML suite given with\n"
    "--expectations, or the one `--suggest` derives from PROFILE (schema, missing values,\n"
    "ranges, allowed values, uniqueness, drift). Each failed check shows the count, the\n"
    "share and up to 20 bad values with their line numbers.\n"
    "\n"
    "  --profile P         profile from `kiln profile` (needed for drift expectations)\n"
    "  --expectations F    YAML suite (docs/validation.md lists every expectation)\n"
    "  --suggest           print a suite suggested from the profile, to edit\n"
    "  --json | --html     GX-style JSON or a self-contained HTML report\n"
    "  --out FILE          write the report (or suggestion) to FILE instead of stdout\n"
    "  --run-id ID         also log metrics and the HTML report to this tracking run\n"
    "  --tracking-uri URI  tracking server (default $KILN_TRACKING_URI, $MLFLOW_TRACKING_URI)\n"
    "  --format F, --delimiter C, --no-header   how to read DATA (see kiln profile)\n"
    "\n"
    "Exit: 0 passed, 1 failed, 2 usage or input error. Docs: docs/validation.md\n";

static void print_table(const struct kiln_validation *v)
{
    static const char *const hdr[] = { "#",          "expectation", "column", "result",
                                       "unexpected", "share",       "details" };
    struct kiln_table *t = kiln_table_new(7, hdr);
    if (t == NULL)
        return;
    kiln_table_align_right(t, 0);
    kiln_table_align_right(t, 4);
    kiln_table_align_right(t, 5);
    for (size_t i = 0; i < v->nresults; i++) {
        const struct kiln_expect_result *r = &v->results[i];
        char idx[24], unexp[32], share[32], det[160];
        const char *cells[7];
        int ok = r->success && r->exception == NULL;
        uint64_t base = r->kind == KILN_EXPECT_NOT_NULL ? r->element_count
                                                        : r->element_count - r->missing_count;
        snprintf(idx, sizeof(idx), "%zu", i + 1);
        snprintf(unexp, sizeof(unexp), "%s", "-");
        snprintf(share, sizeof(share), "%s", "-");
        det[0] = '\0';
        if (r->row_level && r->exception == NULL) {
            snprintf(unexp, sizeof(unexp), "%llu", (unsigned long long)r->unexpected_count);
            snprintf(share, sizeof(share), "%.2f%%",
                     base ? 100.0 * (double)r->unexpected_count / (double)base : 0.0);
        }
        if (r->exception != NULL)
            snprintf(det, sizeof(det), "%s", r->exception);
        else if (r->observed_text != NULL)
            snprintf(det, sizeof(det), "%s", r->observed_text);
        else if (!r->row_level)
            kiln_qcli_num(r->observed, det, sizeof(det));
        cells[0] = idx;
        cells[1] = kiln_expect_name(r->kind);
        cells[2] = r->column != NULL ? r->column : "-";
        cells[3] = ok ? "ok" : "FAIL";
        cells[4] = unexp;
        cells[5] = share;
        cells[6] = det;
        kiln_table_add(t, cells);
    }
    printf("validation of %s (%llu rows) with suite '%s'\n", v->data_name,
           (unsigned long long)v->rows, v->suite_name);
    kiln_table_print(t, stdout);
    kiln_table_free(t);
    for (size_t i = 0; i < v->nresults; i++) {
        const struct kiln_expect_result *r = &v->results[i];
        if (r->success || r->npartial == 0)
            continue;
        printf("#%zu %s(%s): sample unexpected values:\n", i + 1, kiln_expect_name(r->kind),
               r->column != NULL ? r->column : "");
        for (size_t k = 0; k < r->npartial; k++)
            printf("  line %llu: %s\n", (unsigned long long)r->partial_line[k],
                   r->partial_value[k] != NULL ? r->partial_value[k] : "(missing)");
    }
    printf("%s: %zu of %zu expectations passed\n", v->success ? "PASSED" : "FAILED", v->successful,
           v->evaluated);
}

int kiln_cmd_validate(int argc, char **argv)
{
    const char *profile_path = NULL, *suite_path = NULL, *out = NULL, *format = NULL;
    const char *delimiter = NULL, *tracking = NULL, *run_id = NULL;
    int json = 0, html = 0, suggest = 0, no_header = 0;
    struct kiln_strv pos = { 0 };
    struct kiln_opt opts[] = {
        { "profile", 'p', KILN_OPT_STR, &profile_path },
        { "expectations", 'e', KILN_OPT_STR, &suite_path },
        { "suggest", 0, KILN_OPT_FLAG, &suggest },
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
    struct kiln_profile *profile = NULL;
    struct kiln_suite *suite = NULL;
    struct kiln_table_reader *r = NULL;
    struct kiln_validation *v = NULL;
    struct kiln_qcli_progress prog;
    struct kiln_buf b;
    int rc, code = KILN_EXIT_USAGE;

    kiln_buf_init(&b, (size_t)1 << 31);
    kiln_qcli_progress_init(&prog);
    rc = kiln_opts_parse(argc, argv, opts, KILN_ARRAY_LEN(opts), &pos, &err);
    if (rc == KILN_OPTS_HELP) {
        fputs(USAGE, stdout);
        code = KILN_EXIT_OK;
        goto out;
    }
    if (rc != KILN_OK)
        goto fail;
    if (json && html) {
        code = kiln_cli_fail("validate: choose one of --json and --html");
        goto out;
    }
    if (tracking != NULL && run_id == NULL) {
        code = kiln_cli_fail("validate: --tracking-uri needs --run-id (the run to log to)");
        goto out;
    }
    if (suggest) {
        if (profile_path == NULL || pos.n != 0) {
            code = kiln_cli_fail("validate: --suggest takes --profile and no DATA");
            goto out;
        }
        if ((rc = kiln_profile_load(profile_path, &profile, &err)) != KILN_OK ||
            (rc = kiln_suite_suggest(profile, profile_path, &b, &err)) != KILN_OK ||
            (rc = kiln_qcli_emit(out, &b, &err)) != KILN_OK)
            goto fail;
        code = KILN_EXIT_OK;
        goto out;
    }
    if (pos.n != 1 || (profile_path == NULL && suite_path == NULL)) {
        code = kiln_cli_fail("validate: expected DATA and --profile and/or --expectations "
                             "(see 'kiln validate --help')");
        goto out;
    }
    if (profile_path != NULL && (rc = kiln_profile_load(profile_path, &profile, &err)) != KILN_OK)
        goto fail;
    if (suite_path != NULL) {
        rc = kiln_suite_load(suite_path, &suite, &err);
    } else {
        rc = kiln_suite_suggest(profile, profile_path, &b, &err);
        if (rc == KILN_OK)
            rc = kiln_suite_parse(b.buf, b.len, "suggested suite", &suite, &err);
        kiln_buf_reset(&b);
    }
    if (rc != KILN_OK)
        goto fail;
    if ((rc = kiln_qcli_table_opts(format, delimiter, no_header, &topts, &err)) != KILN_OK ||
        (rc = kiln_table_reader_open(pos.v[0], &topts, &r, &err)) != KILN_OK)
        goto fail;
    kiln_qcli_progress_attach(&prog, r, pos.v[0]);
    rc = kiln_validate(r, suite, profile, profile_path, &v, &err);
    kiln_qcli_progress_done(&prog);
    prog.on = 0;
    if (rc != KILN_OK)
        goto fail;
    if (json || html) {
        rc = json ? kiln_validation_json(v, &b) : kiln_validation_html(v, &b);
        if (rc == KILN_OK && json)
            rc = kiln_buf_putc(&b, '\n');
        if (rc == KILN_OK)
            rc = kiln_qcli_emit(out, &b, &err);
        if (rc != KILN_OK)
            goto fail;
    } else {
        print_table(v);
    }
    if (run_id != NULL && (rc = kiln_qtrack_validation(tracking, run_id, v, &err)) != KILN_OK)
        goto fail;
    code = v->success ? KILN_EXIT_OK : KILN_EXIT_FAIL;
    goto out;
fail:
    code = kiln_cli_fail_rc(rc, &err);
out:
    if (prog.on)
        kiln_qcli_progress_done(&prog);
    kiln_validation_free(v);
    kiln_table_reader_free(r);
    kiln_suite_free(suite);
    kiln_profile_free(profile);
    kiln_buf_release(&b);
    kiln_strv_release(&pos);
    return code;
}
