/*
 * predict.c - `kiln predict URI --input FILE --output FILE`: batch scoring.
 *
 * Streams the input (CSV or JSON Lines) through serve/batch.h on every core in bounded
 * memory, keeps the rows' order, and writes the predictions (CSV, or JSON Lines when the
 * output ends in .jsonl) under a temporary name renamed into place at the end, so a failed
 * run leaves no half-written file. Output columns: the --keep columns, `prediction` (the
 * label, or the value; prediction_0.. for several outputs), then for classifiers one
 * `proba_<label>` column per class (unless --no-proba). A progress line shows on a terminal.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/dataplane_cli.h"
#include "cli/quality_cli.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "serve/batch.h"

static const char usage[] =
    "usage: kiln predict URI --input FILE --output FILE [options]\n"
    "\n"
    "Scores a data file with a model, streaming (memory stays bounded whatever the file's\n"
    "size) on every core, rows in order. URI: models:/NAME@ALIAS, models:/NAME/VERSION,\n"
    "runs:/RUN_ID/PATH (through the tracking server) or a model folder.\n"
    "\n"
    "options:\n"
    "  --input FILE          CSV or JSON Lines (by extension, or --format); - for stdin\n"
    "  --output FILE         CSV, or JSON Lines when it ends in .jsonl; - for stdout\n"
    "  --keep COLS           input columns to copy to the output (comma list, e.g. an id)\n"
    "  --no-proba            classifiers: the label only, no probability columns\n"
    "  --workers N           prediction threads (default: the number of cores)\n"
    "  --block-rows N        rows per block (default 4096)\n"
    "  --format F            input format: csv, jsonl or auto (default)\n"
    "  --delimiter C         CSV delimiter (default ',', 'tab' for tabs)\n"
    "  --tracking-uri URI    tracking server for registry URIs\n"
    "  --quiet               no progress line\n"
    "\n"
    "Documentation: docs/serving.md\n";

struct pctx {
    const struct kiln_rt_model *m;
    int jsonl, proba;
    size_t C, V;
    char **label_csv, **label_json; /* per class */
    char **keep_keys;               /* JSON Lines: "\"name\":" per kept column */
    struct kiln_dcli_out out;
};

static int csv_field(struct kiln_buf *b, const char *p, size_t len)
{
    int rc;
    if (memchr(p, ',', len) == NULL && memchr(p, '"', len) == NULL &&
        memchr(p, '\n', len) == NULL && memchr(p, '\r', len) == NULL)
        return kiln_buf_append(b, p, len);
    rc = kiln_buf_putc(b, '"');
    for (size_t i = 0; i < len && rc == KILN_OK; i++)
        rc = p[i] == '"' ? kiln_buf_append(b, "\"\"", 2) : kiln_buf_putc(b, p[i]);
    return rc == KILN_OK ? kiln_buf_putc(b, '"') : rc;
}

static int keep_cell(void *ctx, struct kiln_buf *b, size_t i, const char *p, size_t len,
                     int missing)
{
    struct pctx *c = ctx;
    int rc;
    if (!c->jsonl) {
        rc = missing && len == 0 ? KILN_OK : csv_field(b, p, len);
        return rc == KILN_OK ? kiln_buf_putc(b, ',') : rc;
    }
    rc = kiln_buf_puts(b, c->keep_keys[i]);
    if (rc == KILN_OK)
        rc = missing ? kiln_buf_puts(b, "null") : kiln_json_quote(b, p, len);
    return rc == KILN_OK ? kiln_buf_putc(b, ',') : rc;
}

static int put_num(struct kiln_buf *b, double v, int jsonl)
{
    char tmp[40];
    if (!(v == v) || v == 1.0 / 0.0 || v == -1.0 / 0.0)
        return kiln_buf_puts(b, jsonl ? "null" : "");
    kiln_format_double(v, tmp, sizeof(tmp));
    return kiln_buf_puts(b, tmp);
}

/* Formats one block (worker threads). */
static int format(void *ctx, struct kiln_batch_block *blk, struct kiln_err *err)
{
    struct pctx *c = ctx;
    struct kiln_buf *b = blk->text;
    int rc = kiln_buf_grow(b, blk->n * (16 + (c->C + c->V) * 24) +
                                  (blk->keep_off[blk->n] - blk->keep_off[0]));
    for (size_t r = 0; r < blk->n && rc == KILN_OK; r++) {
        if (c->jsonl)
            rc = kiln_buf_putc(b, '{');
        if (rc == KILN_OK)
            rc = kiln_buf_append(b, blk->keep + blk->keep_off[r],
                                 blk->keep_off[r + 1] - blk->keep_off[r]);
        if (rc == KILN_OK && c->jsonl)
            rc = kiln_buf_puts(b, "\"prediction\":");
        if (c->C > 0) {
            size_t k = (size_t)blk->out.label[r];
            if (rc == KILN_OK)
                rc = kiln_buf_puts(b, c->jsonl ? c->label_json[k] : c->label_csv[k]);
            if (rc == KILN_OK && c->proba && c->jsonl)
                rc = kiln_buf_puts(b, ",\"probabilities\":{");
            for (size_t j = 0; c->proba && j < c->C && rc == KILN_OK; j++) {
                if (c->jsonl && j > 0)
                    rc = kiln_buf_putc(b, ',');
                else if (!c->jsonl)
                    rc = kiln_buf_putc(b, ',');
                if (rc == KILN_OK && c->jsonl)
                    rc = kiln_json_quote(b, kiln_rt_class(c->m, j)->text,
                                         strlen(kiln_rt_class(c->m, j)->text));
                if (rc == KILN_OK && c->jsonl)
                    rc = kiln_buf_putc(b, ':');
                if (rc == KILN_OK)
                    rc = put_num(b, blk->out.proba[r * c->C + j], c->jsonl);
            }
            if (rc == KILN_OK && c->proba && c->jsonl)
                rc = kiln_buf_putc(b, '}');
        } else {
            if (rc == KILN_OK && c->jsonl && c->V > 1)
                rc = kiln_buf_putc(b, '[');
            for (size_t j = 0; j < c->V && rc == KILN_OK; j++) {
                if (j > 0)
                    rc = kiln_buf_putc(b, ',');
                if (rc == KILN_OK)
                    rc = put_num(b, blk->out.value[r * c->V + j], c->jsonl);
            }
            if (rc == KILN_OK && c->jsonl && c->V > 1)
                rc = kiln_buf_putc(b, ']');
        }
        if (rc == KILN_OK)
            rc = kiln_buf_puts(b, c->jsonl ? "}\n" : "\n");
    }
    return rc == KILN_OK ? KILN_OK : kiln_err_set(err, rc, "cannot format the predictions");
}

static int sink(void *ctx, const struct kiln_batch_block *b, struct kiln_err *err)
{
    struct pctx *c = ctx;
    return kiln_dcli_out_write(&c->out, b->text->buf, b->text->len, err);
}

/* Renders class labels for both formats, the JSON keys of kept columns and the CSV header. */
static int prepare(struct pctx *c, const struct kiln_strv *keep, struct kiln_buf *head)
{
    int rc = KILN_OK;
    c->label_csv = kiln_calloc(c->C + 1, sizeof(char *));
    c->label_json = kiln_calloc(c->C + 1, sizeof(char *));
    c->keep_keys = kiln_calloc(keep->n + 1, sizeof(char *));
    if (c->label_csv == NULL || c->label_json == NULL || c->keep_keys == NULL)
        return KILN_ENOMEM;
    for (size_t k = 0; k < c->C && rc == KILN_OK; k++) {
        const struct kiln_rt_class *cl = kiln_rt_class(c->m, k);
        struct kiln_buf a, j;
        kiln_buf_init(&a, 1 << 16);
        kiln_buf_init(&j, 1 << 16);
        rc = csv_field(&a, cl->text, strlen(cl->text));
        if (rc == KILN_OK)
            rc = cl->is_number ? kiln_buf_puts(&j, cl->text)
                               : kiln_json_quote(&j, cl->text, strlen(cl->text));
        if (rc == KILN_OK)
            rc = kiln_buf_putc(&a, '\0') == KILN_OK ? KILN_OK : KILN_ENOMEM;
        c->label_csv[k] = kiln_buf_detach(&a, NULL);
        c->label_json[k] = kiln_buf_detach(&j, NULL);
        if (c->label_csv[k] == NULL || c->label_json[k] == NULL)
            rc = KILN_ENOMEM;
        kiln_buf_release(&a);
        kiln_buf_release(&j);
    }
    for (size_t i = 0; i < keep->n && rc == KILN_OK; i++) {
        struct kiln_buf k;
        kiln_buf_init(&k, 1 << 16);
        rc = kiln_json_quote(&k, keep->v[i], strlen(keep->v[i]));
        if (rc == KILN_OK)
            rc = kiln_buf_putc(&k, ':');
        c->keep_keys[i] = kiln_buf_detach(&k, NULL);
        if (c->keep_keys[i] == NULL)
            rc = KILN_ENOMEM;
        if (!c->jsonl && rc == KILN_OK) {
            rc = csv_field(head, keep->v[i], strlen(keep->v[i]));
            if (rc == KILN_OK)
                rc = kiln_buf_putc(head, ',');
        }
    }
    if (c->jsonl || rc != KILN_OK)
        return rc;
    if (c->C > 0 || c->V == 1)
        rc = kiln_buf_puts(head, "prediction");
    for (size_t j = 0; c->C == 0 && c->V > 1 && j < c->V && rc == KILN_OK; j++)
        rc = kiln_buf_printf(head, "%sprediction_%zu", j ? "," : "", j);
    for (size_t k = 0; c->proba && k < c->C && rc == KILN_OK; k++) {
        char name[300];
        const char *t = kiln_rt_class(c->m, k)->text;
        snprintf(name, sizeof(name), "proba_%s", t);
        rc = kiln_buf_putc(head, ',');
        if (rc == KILN_OK)
            rc = csv_field(head, name, strlen(name));
    }
    return rc == KILN_OK ? kiln_buf_putc(head, '\n') : rc;
}

static void pctx_release(struct pctx *c, size_t n_keep)
{
    for (size_t k = 0; k < c->C; k++) {
        if (c->label_csv != NULL)
            kiln_free(c->label_csv[k]);
        if (c->label_json != NULL)
            kiln_free(c->label_json[k]);
    }
    for (size_t i = 0; c->keep_keys != NULL && i < n_keep; i++)
        kiln_free(c->keep_keys[i]);
    kiln_free(c->label_csv);
    kiln_free(c->label_json);
    kiln_free(c->keep_keys);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && kiln_cstr_ieq(s + n - m, suffix);
}

struct popts {
    const char *uri, *input, *output, *format, *delimiter, *tracking;
    int no_proba, quiet;
    int64_t workers, block_rows;
    struct kiln_strv keep;
};

static int run(struct popts *po)
{
    struct kiln_fetched f = { 0 };
    struct kiln_rt_model *m = NULL;
    struct kiln_table_reader *in = NULL;
    struct kiln_table_opts topts;
    struct kiln_batch_opts bo;
    struct kiln_batch_stats st;
    struct kiln_dcli_progress prog;
    struct kiln_err err = { 0 };
    struct kiln_buf head;
    struct pctx c;
    char count[32];
    int rc;

    memset(&c, 0, sizeof(c));
    kiln_buf_init(&head, 1 << 20);
    c.out.fd = -1;
    rc = kiln_qcli_table_opts(po->format, po->delimiter, 0, &topts, &err);
    if (rc == KILN_OK)
        rc = kiln_dcli_load(po->uri, po->tracking, &f, &m, &err);
    if (rc == KILN_OK)
        rc = kiln_table_reader_open(po->input, &topts, &in, &err);
    if (rc != KILN_OK)
        goto out;
    c.m = m;
    c.jsonl = ends_with(po->output, ".jsonl") || ends_with(po->output, ".ndjson");
    c.proba = !po->no_proba;
    c.C = kiln_rt_n_classes(m);
    c.V = kiln_rt_n_outputs(m);
    if (prepare(&c, &po->keep, &head) != KILN_OK) {
        rc = kiln_err_set(&err, KILN_ENOMEM, "out of memory");
        goto out;
    }
    rc = kiln_dcli_out_open(po->output, &c.out, &err);
    if (rc == KILN_OK)
        rc = kiln_dcli_out_write(&c.out, head.buf, head.len, &err);
    if (rc != KILN_OK)
        goto out;
    memset(&bo, 0, sizeof(bo));
    bo.workers = (int)po->workers;
    bo.block_rows = (size_t)po->block_rows;
    bo.keep = po->keep.v;
    bo.n_keep = po->keep.n;
    bo.keep_fn = keep_cell;
    bo.format = format;
    bo.sink = sink;
    bo.ctx = &c;
    kiln_dcli_progress_init(&prog, "predict", po->quiet);
    bo.progress = kiln_dcli_progress;
    bo.progress_ctx = &prog;
    rc = kiln_batch_run(m, in, &bo, &st, &err);
    kiln_dcli_progress_done(&prog);
    if (rc == KILN_OK)
        rc = kiln_dcli_out_commit(&c.out, &err);
    if (rc == KILN_OK && !po->quiet) {
        kiln_dcli_count(st.rows, count, sizeof(count));
        fprintf(stderr,
                "predicted %s rows in %.2f s (%.0fk rows/s, %d workers, peak memory %.0f MB) -> "
                "%s\n",
                count, st.seconds, st.seconds > 0 ? (double)st.rows / st.seconds / 1e3 : 0,
                st.workers, kiln_dcli_peak_rss_mb(), po->output);
    }
out:
    if (rc != KILN_OK)
        kiln_dcli_out_abort(&c.out);
    pctx_release(&c, po->keep.n);
    kiln_buf_release(&head);
    kiln_table_reader_free(in);
    kiln_rt_free(m);
    kiln_fetch_release(&f);
    return rc == KILN_OK ? KILN_EXIT_OK : kiln_cli_fail("predict: %s", err.msg);
}

int kiln_cmd_predict(int argc, char **argv)
{
    struct popts po = { 0 };
    struct kiln_strv keep_raw = { 0 }, pos = { 0 };
    struct kiln_opt opts[] = {
        { "input", 'i', KILN_OPT_STR, &po.input },
        { "output", 'o', KILN_OPT_STR, &po.output },
        { "keep", 0, KILN_OPT_MULTI, &keep_raw },
        { "no-proba", 0, KILN_OPT_FLAG, &po.no_proba },
        { "workers", 'w', KILN_OPT_INT, &po.workers },
        { "block-rows", 0, KILN_OPT_INT, &po.block_rows },
        { "format", 0, KILN_OPT_STR, &po.format },
        { "delimiter", 0, KILN_OPT_STR, &po.delimiter },
        { "tracking-uri", 0, KILN_OPT_STR, &po.tracking },
        { "quiet", 'q', KILN_OPT_FLAG, &po.quiet },
    };
    struct kiln_err err = { 0 };
    int rc = kiln_opts_parse(argc, argv, opts, KILN_ARRAY_LEN(opts), &pos, &err);

    if (rc == KILN_OPTS_HELP) {
        fputs(usage, stdout);
        rc = KILN_EXIT_OK;
    } else if (rc != KILN_OK) {
        rc = kiln_cli_fail("predict: %s (see 'kiln predict --help')", err.msg);
    } else if (pos.n != 1 || po.input == NULL || po.output == NULL) {
        rc = kiln_cli_fail("predict: give one model URI, --input and --output (see 'kiln "
                           "predict --help')");
    } else if (po.workers < 0 || po.workers > 256 || po.block_rows < 0 || po.block_rows > 1000000) {
        rc = kiln_cli_fail("predict: --workers (0-256) or --block-rows (1-1000000) out of range");
    } else if (kiln_qcli_split(&keep_raw, &po.keep) != KILN_OK) {
        rc = kiln_cli_fail("predict: out of memory");
    } else {
        po.uri = pos.v[0];
        rc = run(&po);
    }
    kiln_strv_release(&po.keep);
    kiln_strv_release(&keep_raw);
    kiln_strv_release(&pos);
    return rc;
}
