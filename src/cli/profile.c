/*
 * profile.c - `kiln profile DATA [--out profile.json]`: one pass over a CSV or JSON Lines
 * file into a profile (types, missing shares, moments, quantiles, distinct counts, value
 * counts, histograms, sketches; docs/drift.md), written atomically to --out or, with
 * --json, to stdout. A table of the columns goes to stdout otherwise.
 *
 * Exit codes: 0 done, 2 usage or input error (the reader's message names file, line and
 * column).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "cli/quality_cli.h"
#include "core/mem.h"
#include "quality/profile.h"

static const char USAGE[] =
    "usage: kiln profile DATA [--out FILE] [--json] [--format csv|jsonl] [--delimiter C]\n"
    "                    [--no-header] [--sketch-size K] [--max-values N] [--bins N]\n"
    "\n"
    "Profiles DATA (CSV or JSON Lines, '-' for stdin) in one pass and fixed memory per\n"
    "column: type, missing share, min/max, mean, std, quantiles, distinct count, value\n"
    "counts of low-cardinality columns, histogram and quantile sketch. The profile is the\n"
    "schema `kiln validate` checks and the reference `kiln drift` compares with.\n"
    "\n"
    "  --out FILE        write the profile JSON to FILE (atomically)\n"
    "  --json            print the profile JSON to stdout instead of a table\n"
    "  --format F        csv, jsonl or auto (by file name; default)\n"
    "  --delimiter C     CSV field separator (default ',', 'tab' for tabs)\n"
    "  --no-header       the CSV has no header row (columns are column_1, ...)\n"
    "  --sketch-size K   KLL sketch parameter (default 2048; rank error about 1.7/K)\n"
    "  --max-values N    distinct values counted exactly per column (default 1000)\n"
    "  --bins N          quantile histogram bins per numeric column (default 10)\n"
    "\n"
    "Docs: docs/drift.md (profile format), docs/validation.md.\n";

static void print_table(const struct kiln_profile *p)
{
    static const char *const hdr[] = { "column", "type", "missing", "distinct",
                                       "min",    "max",  "mean",    "std" };
    struct kiln_table *t = kiln_table_new(8, hdr);
    if (t == NULL)
        return;
    for (size_t c = 2; c < 8; c++)
        kiln_table_align_right(t, c);
    for (size_t i = 0; i < p->ncols; i++) {
        const struct kiln_colsum *c = &p->cols[i];
        enum kiln_coltype ty = kiln_colsum_type(c);
        char miss[32], dist[32], mn[32], mx[32], mean[32], sd[32];
        const char *cells[8];
        int exact, num = kiln_coltype_is_numeric(ty) && c->n_num > 0;
        uint64_t d = kiln_colsum_distinct(c, &exact);
        snprintf(miss, sizeof(miss), "%.1f%%",
                 c->rows ? 100.0 * (double)c->missing / (double)c->rows : 0.0);
        snprintf(dist, sizeof(dist), "%s%llu", exact ? "" : "~", (unsigned long long)d);
        kiln_qcli_num(num ? c->min : NAN, mn, sizeof(mn));
        kiln_qcli_num(num ? c->max : NAN, mx, sizeof(mx));
        kiln_qcli_num(num ? c->mean : NAN, mean, sizeof(mean));
        kiln_qcli_num(num ? kiln_colsum_std(c, 1) : NAN, sd, sizeof(sd));
        cells[0] = c->name;
        cells[1] = kiln_coltype_name(ty);
        cells[2] = miss;
        cells[3] = dist;
        cells[4] = mn;
        cells[5] = mx;
        cells[6] = mean;
        cells[7] = sd;
        kiln_table_add(t, cells);
    }
    kiln_table_print(t, stdout);
    kiln_table_free(t);
}

int kiln_cmd_profile(int argc, char **argv)
{
    const char *out = NULL, *format = NULL, *delimiter = NULL;
    int json = 0, no_header = 0;
    int64_t sketch = 0, maxv = 0, bins = 0;
    struct kiln_strv pos = { 0 };
    struct kiln_opt opts[] = {
        { "out", 'o', KILN_OPT_STR, &out },
        { "json", 0, KILN_OPT_FLAG, &json },
        { "format", 0, KILN_OPT_STR, &format },
        { "delimiter", 'd', KILN_OPT_STR, &delimiter },
        { "no-header", 0, KILN_OPT_FLAG, &no_header },
        { "sketch-size", 0, KILN_OPT_INT, &sketch },
        { "max-values", 0, KILN_OPT_INT, &maxv },
        { "bins", 0, KILN_OPT_INT, &bins },
    };
    struct kiln_err err = { 0 };
    struct kiln_table_opts topts;
    struct kiln_profile_opts popts;
    struct kiln_table_reader *r = NULL;
    struct kiln_profile *p = NULL;
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
    if (rc != KILN_OK) {
        code = kiln_cli_fail_rc(rc, &err);
        goto out;
    }
    if (pos.n != 1) {
        code = kiln_cli_fail("profile: expected one DATA file (see 'kiln profile --help')");
        goto out;
    }
    if (sketch < 0 || sketch > 1000000 || (sketch > 0 && sketch < 8) || maxv < 0 ||
        maxv > 10000000 || bins < 0 || bins > 10000) {
        code = kiln_cli_fail("profile: --sketch-size must be 8..1000000, --max-values "
                             "0..10000000 and --bins 0..10000");
        goto out;
    }
    if ((rc = kiln_qcli_table_opts(format, delimiter, no_header, &topts, &err)) != KILN_OK ||
        (rc = kiln_table_reader_open(pos.v[0], &topts, &r, &err)) != KILN_OK) {
        code = kiln_cli_fail_rc(rc, &err);
        goto out;
    }
    memset(&popts, 0, sizeof(popts));
    popts.col.sketch_k = (uint32_t)sketch;
    popts.col.max_values = (size_t)maxv;
    popts.bins = (uint32_t)bins;
    kiln_qcli_progress_attach(&prog, r, pos.v[0]);
    rc = kiln_profile_build(r, &popts, &p, &err);
    kiln_qcli_progress_done(&prog);
    prog.on = 0;
    if (rc != KILN_OK) {
        code = kiln_cli_fail_rc(rc, &err);
        goto out;
    }
    if (out != NULL || json) {
        if ((rc = kiln_profile_to_json(p, &b, &err)) != KILN_OK ||
            (rc = kiln_qcli_emit(json && out == NULL ? NULL : out, &b, &err)) != KILN_OK) {
            code = kiln_cli_fail_rc(rc, &err);
            goto out;
        }
    }
    if (!json) {
        print_table(p);
        if (out != NULL)
            printf("profiled %llu rows x %zu columns of %s into %s\n", (unsigned long long)p->rows,
                   p->ncols, pos.v[0], out);
    }
    code = KILN_EXIT_OK;
out:
    if (prog.on)
        kiln_qcli_progress_done(&prog);
    kiln_profile_free(p);
    kiln_table_reader_free(r);
    kiln_buf_release(&b);
    kiln_strv_release(&pos);
    return code;
}
