/*
 * quantize.c - `kiln quantize URI --calibration sample.csv --out DIR`: an int8 (or float32)
 * copy of an MLP model (runtime/quant.h), with the accuracy-drift report of the new model
 * against the original on the calibration rows (label agreement, max and mean |delta
 * probability| or |delta value|) and the speed-up, so the int8 model can be gated before it
 * is registered: exit 1 when agreement is below --min-agreement.
 *
 * The calibration file is read like a batch-scoring input (serve/batch.h: columns matched to
 * the model's inputs by name, values checked), at most --max-rows rows.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/commands.h"
#include "cli/dataplane_cli.h"
#include "cli/quality_cli.h"
#include "core/json.h"
#include "core/mem.h"
#include "core/str.h"
#include "runtime/quant.h"
#include "serve/batch.h"

static const char usage[] =
    "usage: kiln quantize URI --calibration FILE --out DIR [options]\n"
    "\n"
    "Writes an int8 copy of an MLP model (per-channel weight scales, activations quantized\n"
    "per row at run time) to DIR, then compares it with the original on the calibration rows:\n"
    "label agreement, max and mean |delta probability| (or |delta value| for regressors),\n"
    "and the speed-up. Exits 1 when the agreement is below --min-agreement (after retrying\n"
    "with the output layer kept in float32), so the model can be gated before registering.\n"
    "\n"
    "options:\n"
    "  --calibration FILE     CSV or JSON Lines rows with the model's inputs\n"
    "  --out DIR              the new model folder (must not exist)\n"
    "  --min-agreement A      gate: fail (exit 1) below this agreement, e.g. 0.995\n"
    "  --dtype D              int8 (default) or float32\n"
    "  --max-rows N           calibration rows to use (default 100000)\n"
    "  --bench-ms N           time spent measuring each model (default 300)\n"
    "  --json                 print the report as JSON\n"
    "  --format F, --delimiter C, --tracking-uri URI   as for kiln predict\n"
    "\n"
    "Documentation: docs/serving.md\n";

struct calib {
    size_t F, max_rows;
    double *x;
    size_t n, cap;
};

static int take_rows(void *ctx, const struct kiln_batch_block *b, struct kiln_err *err)
{
    struct calib *c = ctx;
    size_t want = b->n, cap = c->cap;
    if (c->n + want > c->max_rows)
        want = c->max_rows - c->n;
    if (want == 0)
        return KILN_OK;
    while (cap < c->n + want)
        cap = cap ? cap * 2 : 4096;
    if (cap != c->cap) {
        double *x = kiln_reallocarray(c->x, cap * (c->F > 0 ? c->F : 1), sizeof(double));
        if (x == NULL)
            return kiln_err_set(err, KILN_ENOMEM, "out of memory for calibration rows");
        c->x = x;
        c->cap = cap;
    }
    memcpy(c->x + c->n * c->F, b->x, want * c->F * sizeof(double));
    c->n += want;
    return KILN_OK;
}

static void print_report(const struct kiln_quant_report *r, const char *out, double gate)
{
    printf("quantized %s -> %s (%s)%s\n", r->src_engine, r->dst_engine, out,
           r->output_layer_fp32 ? ", output layer kept in float32" : "");
    printf("calibration rows   %zu\n", r->n_rows);
    if (r->classifier) {
        printf("agreement          %.4f%%", 100 * r->agreement);
        if (gate > 0)
            printf("  (gate %.4f%%: %s)", 100 * gate, r->agreement >= gate ? "pass" : "FAIL");
        printf("\nmax |dp|           %.6g\nmean |dp|          %.6g\n", r->max_abs_dproba,
               r->mean_abs_dproba);
    } else {
        printf("max |dvalue|       %.6g\nmax relative       %.6g\n", r->max_abs_dvalue,
               r->max_rel_dvalue);
    }
    printf("batch, per row     %.0f ns -> %.0f ns  (%.2fx)\n", r->src_ns_per_row, r->dst_ns_per_row,
           r->speedup);
    printf("single row         %.0f ns -> %.0f ns  (%.2fx)\n", r->src_ns_single, r->dst_ns_single,
           r->speedup_single);
    printf("model.json         %zu -> %zu bytes\n", r->src_bytes, r->dst_bytes);
}

struct qopts {
    const char *uri, *calibration, *out, *min_agreement, *dtype, *format, *delimiter, *tracking;
    int json;
    int64_t max_rows, bench_ms;
};

static int run(const struct qopts *o)
{
    struct kiln_fetched f = { 0 };
    struct kiln_rt_model *m = NULL;
    struct kiln_table_reader *in = NULL;
    struct kiln_table_opts topts;
    struct kiln_batch_opts bo;
    struct kiln_quant_opts qo = { KILN_QUANT_INT8, 0, 0 };
    struct kiln_quant_report rep;
    struct kiln_err err = { 0 };
    struct calib c = { 0 };
    struct kiln_buf b;
    double gate = 0;
    int rc, fail = 0;

    kiln_buf_init(&b, 1 << 20);
    rc = kiln_qcli_table_opts(o->format, o->delimiter, 0, &topts, &err);
    if (rc == KILN_OK && o->min_agreement != NULL &&
        (kiln_parse_double(o->min_agreement, strlen(o->min_agreement), &gate) != KILN_OK ||
         !(gate > 0 && gate <= 1)))
        rc = kiln_err_set(&err, KILN_EINVAL, "--min-agreement must be in (0, 1], like 0.995");
    if (rc == KILN_OK && o->dtype != NULL) {
        if (strcmp(o->dtype, "float32") == 0)
            qo.dtype = KILN_QUANT_FLOAT32;
        else if (strcmp(o->dtype, "int8") != 0)
            rc = kiln_err_set(&err, KILN_EINVAL, "--dtype must be int8 or float32");
    }
    if (rc == KILN_OK)
        rc = kiln_dcli_load(o->uri, o->tracking, &f, &m, &err);
    if (rc == KILN_OK &&
        (strcmp(kiln_rt_flavor(m), "kiln") != 0 || strncmp(kiln_rt_engine(m), "mlp-", 4) != 0))
        rc = kiln_err_set(&err, KILN_EINVAL,
                          "'%s' is not a kiln MLP model (flavor %s, engine %s): only MLPs are "
                          "quantized",
                          o->uri, kiln_rt_flavor(m), kiln_rt_engine(m));
    if (rc == KILN_OK)
        rc = kiln_table_reader_open(o->calibration, &topts, &in, &err);
    if (rc != KILN_OK)
        goto out;
    c.F = kiln_rt_n_inputs(m);
    c.max_rows = (size_t)o->max_rows;
    memset(&bo, 0, sizeof(bo));
    bo.workers = 1;
    bo.sink = take_rows;
    bo.ctx = &c;
    rc = kiln_batch_run(m, in, &bo, NULL, &err);
    if (rc == KILN_OK && c.n == 0)
        rc = kiln_err_set(&err, KILN_EINVAL, "%s: no calibration rows", o->calibration);
    if (rc != KILN_OK)
        goto out;
    qo.min_agreement = gate;
    qo.bench_ms = (unsigned)o->bench_ms;
    rc = kiln_quant_mlp(f.dir, c.x, c.n, o->out, &qo, &rep, &err);
    if (rc != KILN_OK)
        goto out;
    fail = gate > 0 && rep.classifier && !(rep.agreement >= gate);
    if (o->json) {
        struct kiln_jsonw w;
        kiln_jsonw_init(&w, &b);
        kiln_quant_report_json(&rep, &w);
        if (kiln_jsonw_finish(&w) == KILN_OK)
            puts(b.buf);
    } else {
        print_report(&rep, o->out, gate);
    }
    if (fail)
        fprintf(stderr,
                "kiln: quantize: agreement %.4f%% is below the gate %.4f%%: do not register "
                "%s\n",
                100 * rep.agreement, 100 * gate, o->out);
out:
    kiln_buf_release(&b);
    kiln_free(c.x);
    kiln_table_reader_free(in);
    kiln_rt_free(m);
    kiln_fetch_release(&f);
    if (rc != KILN_OK)
        return kiln_cli_fail("quantize: %s", err.msg);
    return fail ? KILN_EXIT_FAIL : KILN_EXIT_OK;
}

int kiln_cmd_quantize(int argc, char **argv)
{
    struct qopts o = { 0 };
    struct kiln_strv pos = { 0 };
    struct kiln_opt opts[] = {
        { "calibration", 'c', KILN_OPT_STR, &o.calibration },
        { "out", 'o', KILN_OPT_STR, &o.out },
        { "min-agreement", 0, KILN_OPT_STR, &o.min_agreement },
        { "dtype", 0, KILN_OPT_STR, &o.dtype },
        { "max-rows", 0, KILN_OPT_INT, &o.max_rows },
        { "bench-ms", 0, KILN_OPT_INT, &o.bench_ms },
        { "json", 0, KILN_OPT_FLAG, &o.json },
        { "format", 0, KILN_OPT_STR, &o.format },
        { "delimiter", 0, KILN_OPT_STR, &o.delimiter },
        { "tracking-uri", 0, KILN_OPT_STR, &o.tracking },
    };
    struct kiln_err err = { 0 };
    int rc;

    o.max_rows = 100000;
    o.bench_ms = 300;
    rc = kiln_opts_parse(argc, argv, opts, KILN_ARRAY_LEN(opts), &pos, &err);
    if (rc == KILN_OPTS_HELP) {
        fputs(usage, stdout);
        rc = KILN_EXIT_OK;
    } else if (rc != KILN_OK) {
        rc = kiln_cli_fail("quantize: %s (see 'kiln quantize --help')", err.msg);
    } else if (pos.n != 1 || o.calibration == NULL || o.out == NULL) {
        rc = kiln_cli_fail("quantize: give one model URI, --calibration and --out (see 'kiln "
                           "quantize --help')");
    } else if (o.max_rows < 1 || o.max_rows > 100000000 || o.bench_ms < 1 || o.bench_ms > 60000) {
        rc = kiln_cli_fail("quantize: --max-rows or --bench-ms out of range");
    } else {
        o.uri = pos.v[0];
        rc = run(&o);
    }
    kiln_strv_release(&pos);
    return rc;
}
