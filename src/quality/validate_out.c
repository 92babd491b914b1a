/*
 * validate_out.c - validation results as Great Expectations-style JSON and as a
 * self-contained HTML report with a histogram per column (docs/validation.md).
 *
 * JSON keys follow GX's SUMMARY result format: success, statistics {evaluated_expectations,
 * successful_expectations, unsuccessful_expectations, success_percent}, results [{success,
 * expectation_config {type, kwargs, meta {line}}, result {element_count, missing_count,
 * missing_percent, unexpected_count, unexpected_percent, unexpected_percent_total,
 * unexpected_percent_nonmissing, partial_unexpected_list, partial_unexpected_index_list
 * (1-based file lines), partial_unexpected_counts, observed_value}, exception_info}], meta.
 */
#include <math.h>
#include <string.h>

#include "core/json.h"
#include "core/mem.h"
#include "core/time.h"
#include "kiln_config.h"
#include "quality/expect_int.h"
#include "quality/html_int.h"

static void pct(struct kiln_jsonw *w, const char *key, uint64_t a, uint64_t b)
{
    kiln_jsonw_key(w, key);
    if (b == 0)
        kiln_jsonw_null(w);
    else
        kiln_jsonw_double(w, 100.0 * (double)a / (double)b);
}

static void write_result(struct kiln_jsonw *w, const struct kiln_expect_result *r)
{
    uint64_t nonmissing = r->element_count - r->missing_count;
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_bool(w, "success", r->success && r->exception == NULL);
    kiln_jsonw_key(w, "expectation_config");
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "type", kiln_expect_name(r->kind));
    kiln_jsonw_key(w, "kwargs");
    kiln_jsonw_json(w, r->kwargs);
    kiln_jsonw_key(w, "meta");
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "line", r->line);
    kiln_jsonw_obj_end(w);
    kiln_jsonw_obj_end(w);
    kiln_jsonw_key(w, "result");
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_int(w, "element_count", (int64_t)r->element_count);
    if (r->column != NULL) {
        kiln_jsonw_kv_int(w, "missing_count", (int64_t)r->missing_count);
        pct(w, "missing_percent", r->missing_count, r->element_count);
    }
    if (r->row_level) {
        uint64_t base = r->kind == KILN_EXPECT_NOT_NULL ? r->element_count : nonmissing;
        kiln_jsonw_kv_int(w, "unexpected_count", (int64_t)r->unexpected_count);
        pct(w, "unexpected_percent", r->unexpected_count, base);
        pct(w, "unexpected_percent_total", r->unexpected_count, r->element_count);
        pct(w, "unexpected_percent_nonmissing", r->unexpected_count, base);
        kiln_jsonw_key(w, "partial_unexpected_list");
        kiln_jsonw_arr_begin(w);
        for (size_t i = 0; i < r->npartial; i++) {
            if (r->partial_value[i] == NULL)
                kiln_jsonw_null(w);
            else
                kiln_jsonw_str(w, r->partial_value[i]);
        }
        kiln_jsonw_arr_end(w);
        kiln_jsonw_key(w, "partial_unexpected_index_list");
        kiln_jsonw_arr_begin(w);
        for (size_t i = 0; i < r->npartial; i++)
            kiln_jsonw_int(w, (int64_t)r->partial_line[i]);
        kiln_jsonw_arr_end(w);
        kiln_jsonw_key(w, "partial_unexpected_counts");
        kiln_jsonw_arr_begin(w);
        for (size_t i = 0; i < r->ncounts; i++) {
            kiln_jsonw_obj_begin(w);
            kiln_jsonw_key(w, "value");
            if (r->count_value[i] == NULL)
                kiln_jsonw_null(w);
            else
                kiln_jsonw_str(w, r->count_value[i]);
            kiln_jsonw_kv_int(w, "count", (int64_t)r->count_n[i]);
            kiln_jsonw_obj_end(w);
        }
        kiln_jsonw_arr_end(w);
    }
    if (r->observed_text != NULL) {
        kiln_jsonw_kv_str(w, "observed_value", r->observed_text);
    } else if (!r->row_level && !isnan(r->observed)) {
        kiln_jsonw_key(w, "observed_value");
        kiln_jsonw_double_or_null(w, r->observed);
    }
    kiln_jsonw_obj_end(w);
    kiln_jsonw_key(w, "exception_info");
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_bool(w, "raised_exception", r->exception != NULL);
    kiln_jsonw_key(w, "exception_message");
    if (r->exception != NULL)
        kiln_jsonw_str(w, r->exception);
    else
        kiln_jsonw_null(w);
    kiln_jsonw_obj_end(w);
    kiln_jsonw_obj_end(w);
}

int kiln_validation_json(const struct kiln_validation *v, struct kiln_buf *out)
{
    struct kiln_jsonw w;
    char when[32];
    kiln_time_format_iso(v->time_ms, when, sizeof(when));
    kiln_jsonw_init(&w, out);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_bool(&w, "success", v->success);
    kiln_jsonw_key(&w, "statistics");
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_int(&w, "evaluated_expectations", (int64_t)v->evaluated);
    kiln_jsonw_kv_int(&w, "successful_expectations", (int64_t)v->successful);
    kiln_jsonw_kv_int(&w, "unsuccessful_expectations", (int64_t)(v->evaluated - v->successful));
    kiln_jsonw_kv_double(&w, "success_percent",
                         v->evaluated ? 100.0 * (double)v->successful / (double)v->evaluated
                                      : 100.0);
    kiln_jsonw_obj_end(&w);
    kiln_jsonw_key(&w, "results");
    kiln_jsonw_arr_begin(&w);
    for (size_t i = 0; i < v->nresults; i++)
        write_result(&w, &v->results[i]);
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_key(&w, "meta");
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "expectation_suite_name", v->suite_name);
    kiln_jsonw_key(&w, "run_id");
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "run_name", v->data_name);
    kiln_jsonw_kv_str(&w, "run_time", when);
    kiln_jsonw_obj_end(&w);
    kiln_jsonw_key(&w, "batch_spec");
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "path", v->data_name);
    kiln_jsonw_kv_int(&w, "rows", (int64_t)v->rows);
    kiln_jsonw_obj_end(&w);
    kiln_jsonw_kv_str(&w, "validation_time", when);
    kiln_jsonw_key(&w, "profile");
    if (v->profile_name != NULL)
        kiln_jsonw_str(&w, v->profile_name);
    else
        kiln_jsonw_null(&w);
    kiln_jsonw_kv_str(&w, "kiln_version", KILN_VERSION);
    kiln_jsonw_obj_end(&w);
    kiln_jsonw_obj_end(&w);
    return kiln_jsonw_finish(&w);
}

/* A column's histogram: 20 equal-width bins for numbers, else its 20 most frequent values. */
static void html_histogram(struct kiln_hw *w, const struct kiln_colsum *c)
{
    enum { NB = 20 };
    double share[NB];
    char *labels[NB], buf[NB][64];
    size_t n = 0;
    enum kiln_coltype t = kiln_colsum_type(c);
    for (size_t i = 0; i < NB; i++)
        labels[i] = buf[i];
    if ((kiln_coltype_is_numeric(t) || t == KILN_COL_TIMESTAMP) && c->n_num > 0) {
        double *v = NULL, step = (c->max - c->min) / NB;
        uint64_t *wt = NULL;
        size_t nv = 0;
        if (kiln_kll_sorted(&c->kll, &v, &wt, &nv) != KILN_OK) {
            w->rc = KILN_ENOMEM;
            return;
        }
        memset(share, 0, sizeof(share));
        n = step > 0 ? NB : 1;
        for (size_t i = 0; i < nv; i++) {
            size_t b = step > 0 ? (size_t)((v[i] - c->min) / step) : 0;
            share[b >= n ? n - 1 : b] += (double)wt[i] / (double)c->kll.n;
        }
        for (size_t i = 0; i < n; i++)
            snprintf(buf[i], sizeof(buf[i]), "[%.4g, %.4g%s", c->min + step * (double)i,
                     i + 1 == n ? c->max : c->min + step * (double)(i + 1), i + 1 == n ? "]" : ")");
        kiln_free(v);
        kiln_free(wt);
    } else {
        const struct kiln_counts *tab = &c->texts;
        unsigned char used[4096];
        size_t limit = tab->n < sizeof(used) ? tab->n : sizeof(used);
        uint64_t nonmissing = c->rows - c->missing;
        memset(used, 0, sizeof(used));
        while (n < NB && nonmissing > 0) {
            size_t best = (size_t)-1;
            for (size_t i = 0; i < limit; i++)
                if (!used[i] && (best == (size_t)-1 || tab->e[i].count > tab->e[best].count))
                    best = i;
            if (best == (size_t)-1)
                break;
            used[best] = 1;
            share[n] = (double)tab->e[best].count / (double)nonmissing;
            snprintf(buf[n++], sizeof(buf[0]), "%.60s", tab->e[best].key);
        }
    }
    kiln_html_bars(w, (const char *const *)labels, share, NULL, n, "share", NULL, NB);
}

static void html_result(struct kiln_hw *w, const struct kiln_expect_result *r)
{
    int ok = r->success && r->exception == NULL;
    kiln_hw_printf(w, "<tr><td><span class=\"badge %s\">%s</span></td><td><code>%s</code>",
                   ok ? "ok" : "bad", ok ? "pass" : "FAIL", kiln_expect_name(r->kind));
    kiln_hw_printf(w, " <span class=\"muted\">line %d</span></td><td>", r->line);
    kiln_html_text(w, r->column != NULL ? r->column : "(table)", (size_t)-1);
    kiln_hw_puts(w, "</td><td>");
    if (r->exception != NULL) {
        kiln_html_text(w, r->exception, (size_t)-1);
    } else if (r->row_level) {
        uint64_t base = r->kind == KILN_EXPECT_NOT_NULL ? r->element_count
                                                        : r->element_count - r->missing_count;
        kiln_hw_printf(w, "%llu unexpected (%.3g%%)", (unsigned long long)r->unexpected_count,
                       base ? 100.0 * (double)r->unexpected_count / (double)base : 0.0);
        if (r->npartial > 0) {
            kiln_hw_puts(w, "<br><span class=\"muted\">");
            for (size_t i = 0; i < r->npartial; i++) {
                kiln_hw_printf(w, "%sline %llu: ", i ? "; " : "",
                               (unsigned long long)r->partial_line[i]);
                if (r->partial_value[i] == NULL)
                    kiln_hw_puts(w, "(missing)");
                else
                    kiln_html_text(w, r->partial_value[i],
                                   strlen(r->partial_value[i]) > 60 ? 60 : (size_t)-1);
            }
            kiln_hw_puts(w, "</span>");
        }
    } else if (r->observed_text != NULL) {
        kiln_html_text(w, r->observed_text, (size_t)-1);
    } else {
        kiln_hw_puts(w, "observed ");
        kiln_html_num(w, r->observed);
    }
    kiln_hw_puts(w, "</td></tr>");
}

int kiln_validation_html(const struct kiln_validation *v, struct kiln_buf *out)
{
    struct kiln_hw w = { out, KILN_OK };
    kiln_html_begin(&w, "kiln validation report");
    kiln_hw_puts(&w, "<h1>Validation report</h1><p class=\"muted\"><code>");
    kiln_html_text(&w, v->data_name, (size_t)-1);
    kiln_hw_printf(&w, "</code> (%llu rows) against suite <code>", (unsigned long long)v->rows);
    kiln_html_text(&w, v->suite_name, (size_t)-1);
    kiln_hw_puts(&w, "</code>");
    if (v->profile_name != NULL) {
        kiln_hw_puts(&w, " and profile <code>");
        kiln_html_text(&w, v->profile_name, (size_t)-1);
        kiln_hw_puts(&w, "</code>");
    }
    kiln_hw_printf(&w,
                   "</p><p><span class=\"badge %s\">%s</span> %zu of %zu expectations "
                   "passed</p>",
                   v->success ? "ok" : "bad", v->success ? "passed" : "failed", v->successful,
                   v->evaluated);
    kiln_hw_puts(&w, "<table><tr><th>result</th><th>expectation</th><th>column</th>"
                     "<th>details</th></tr>");
    for (size_t i = 0; i < v->nresults; i++)
        html_result(&w, &v->results[i]);
    kiln_hw_puts(&w, "</table><h2>Columns</h2><div class=\"grid\">");
    for (size_t i = 0; i < v->ncols; i++) {
        const struct kiln_colsum *c = &v->cols[i];
        kiln_hw_puts(&w, "<div class=\"card\"><h3>");
        kiln_html_text(&w, c->name, (size_t)-1);
        kiln_hw_printf(&w,
                       " <span class=\"muted\">%s</span></h3><p class=\"muted\">missing "
                       "%.3g%%",
                       kiln_coltype_name(kiln_colsum_type(c)),
                       c->rows ? 100.0 * (double)c->missing / (double)c->rows : 0.0);
        if (c->n_num > 0) {
            kiln_hw_puts(&w, ", mean ");
            kiln_html_num(&w, c->mean);
            kiln_hw_puts(&w, ", std ");
            kiln_html_num(&w, kiln_colsum_std(c, 1));
        }
        kiln_hw_puts(&w, "</p>");
        html_histogram(&w, c);
        kiln_hw_puts(&w, "</div>");
    }
    kiln_hw_puts(&w, "</div>");
    kiln_html_end(&w);
    return w.rc;
}
