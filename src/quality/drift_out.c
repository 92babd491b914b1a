/*
 * drift_out.c - drift results as JSON (the stable schema of docs/drift.md) and as a
 * self-contained HTML report.
 *
 * JSON numbers: finite values in shortest round-trip form; +inf as the string "Infinity"
 * and -inf as "-Infinity" (a chi-square statistic with a category unseen in the
 * reference); NaN (a statistic that does not apply or is undefined, such as z when both
 * sides hold the same single value) as null.
 */
#include <math.h>
#include <string.h>

#include "core/json.h"
#include "quality/drift_int.h"
#include "quality/html_int.h"

static void num(struct kiln_jsonw *w, double v)
{
    if (isnan(v))
        kiln_jsonw_null(w);
    else if (isinf(v))
        kiln_jsonw_str(w, v > 0 ? "Infinity" : "-Infinity");
    else
        kiln_jsonw_double(w, v);
}

static void kv_num(struct kiln_jsonw *w, const char *key, double v)
{
    kiln_jsonw_key(w, key);
    num(w, v);
}

static void write_stats(struct kiln_jsonw *w, const struct kiln_drift_column *c)
{
    int numeric = strcmp(c->type, "numeric") == 0;
    kiln_jsonw_obj_begin(w);
    if (numeric) {
        kv_num(w, "ks_statistic", c->ks_statistic);
        kv_num(w, "ks_p_value", c->ks_p_value);
        kiln_jsonw_kv_bool(w, "ks_exact", c->ks_exact);
        kv_num(w, "wasserstein", c->wasserstein);
        kv_num(w, "wasserstein_normed", c->wasserstein_normed);
    }
    kv_num(w, "psi", c->psi);
    kv_num(w, "kl_divergence", c->kl_divergence);
    kv_num(w, "jensenshannon", c->jensenshannon);
    if (!numeric || !isnan(c->chisquare_statistic)) {
        kv_num(w, "chisquare_statistic", c->chisquare_statistic);
        kv_num(w, "chisquare_p_value", c->chisquare_p_value);
    }
    if (!isnan(c->z_p_value)) {
        kv_num(w, "z_statistic", c->z_statistic);
        kv_num(w, "z_p_value", c->z_p_value);
    }
    if (!numeric)
        kv_num(w, "unseen_share", c->unseen_share);
    kv_num(w, "missing_share_change", c->missing_share_change);
    kiln_jsonw_obj_end(w);
}

static void write_column(struct kiln_jsonw *w, const struct kiln_drift_column *c)
{
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "name", c->name);
    kiln_jsonw_kv_str(w, "type", c->type != NULL ? c->type : "categorical");
    if (c->error != NULL) {
        kiln_jsonw_key(w, "method");
        kiln_jsonw_null(w);
        kiln_jsonw_key(w, "statistic");
        kiln_jsonw_null(w);
        kiln_jsonw_key(w, "p_value");
        kiln_jsonw_null(w);
        kiln_jsonw_key(w, "threshold");
        kiln_jsonw_null(w);
        kiln_jsonw_kv_bool(w, "drifted", 0);
        kiln_jsonw_kv_str(w, "error", c->error);
        kiln_jsonw_kv_int(w, "n_reference", (int64_t)c->n_reference);
        kiln_jsonw_kv_int(w, "n_current", (int64_t)c->n_current);
        kiln_jsonw_obj_end(w);
        return;
    }
    kiln_jsonw_kv_str(w, "method", kiln_drift_method_name(c->method));
    kv_num(w, "statistic", c->statistic);
    kv_num(w, "p_value", c->p_value);
    kv_num(w, "threshold", c->threshold);
    kiln_jsonw_kv_bool(w, "drifted", c->drifted);
    kiln_jsonw_key(w, "error");
    kiln_jsonw_null(w);
    kiln_jsonw_kv_int(w, "n_reference", (int64_t)c->n_reference);
    kiln_jsonw_kv_int(w, "n_current", (int64_t)c->n_current);
    kiln_jsonw_kv_bool(w, "approximate", c->approximate);
    kiln_jsonw_key(w, "stats");
    write_stats(w, c);
    kiln_jsonw_key(w, "bins");
    kiln_jsonw_obj_begin(w);
    kiln_jsonw_kv_str(w, "kind", c->binning);
    kiln_jsonw_key(w, "labels");
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < c->nbins; i++)
        kiln_jsonw_str(w, c->bin_labels[i]);
    kiln_jsonw_arr_end(w);
    kiln_jsonw_key(w, "reference");
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < c->nbins; i++)
        num(w, c->ref_share[i]);
    kiln_jsonw_arr_end(w);
    kiln_jsonw_key(w, "current");
    kiln_jsonw_arr_begin(w);
    for (size_t i = 0; i < c->nbins; i++)
        num(w, c->cur_share[i]);
    kiln_jsonw_arr_end(w);
    kiln_jsonw_obj_end(w);
    kiln_jsonw_obj_end(w);
}

int kiln_drift_result_json(const struct kiln_drift_result *r, struct kiln_buf *out)
{
    struct kiln_jsonw w;
    kiln_jsonw_init(&w, out);
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_bool(&w, "dataset_drift", r->dataset_drift);
    kv_num(&w, "drift_share", r->drift_share);
    kv_num(&w, "drift_share_threshold", r->drift_share_threshold);
    kiln_jsonw_kv_int(&w, "number_of_columns", (int64_t)r->n_checked);
    kiln_jsonw_kv_int(&w, "number_of_drifted_columns", (int64_t)r->n_drifted);
    kiln_jsonw_key(&w, "reference");
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "name", r->reference);
    kiln_jsonw_kv_int(&w, "rows", (int64_t)r->reference_rows);
    kiln_jsonw_obj_end(&w);
    kiln_jsonw_key(&w, "current");
    kiln_jsonw_obj_begin(&w);
    kiln_jsonw_kv_str(&w, "name", r->current);
    kiln_jsonw_kv_int(&w, "rows", (int64_t)r->current_rows);
    kiln_jsonw_obj_end(&w);
    kiln_jsonw_key(&w, "columns");
    kiln_jsonw_arr_begin(&w);
    for (size_t i = 0; i < r->ncols; i++)
        write_column(&w, &r->cols[i]);
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_key(&w, "skipped_columns");
    kiln_jsonw_arr_begin(&w);
    for (size_t i = 0; i < r->nskipped; i++) {
        kiln_jsonw_obj_begin(&w);
        kiln_jsonw_kv_str(&w, "name", r->skipped[i]);
        kiln_jsonw_kv_str(&w, "reason", r->skipped_reason[i]);
        kiln_jsonw_obj_end(&w);
    }
    kiln_jsonw_arr_end(&w);
    kiln_jsonw_obj_end(&w);
    return kiln_jsonw_finish(&w);
}

static void html_column(struct kiln_hw *w, const struct kiln_drift_column *c)
{
    kiln_hw_puts(w, "<div class=\"card\"><h3>");
    kiln_html_text(w, c->name, (size_t)-1);
    kiln_hw_puts(w, " <span class=\"muted\">");
    kiln_html_text(w, c->type, (size_t)-1);
    kiln_hw_puts(w, "</span></h3>");
    if (c->error != NULL) {
        kiln_hw_puts(w, "<p><span class=\"badge warn\">error</span> ");
        kiln_html_text(w, c->error, (size_t)-1);
        kiln_hw_puts(w, "</p></div>");
        return;
    }
    kiln_hw_printf(w, "<p><span class=\"badge %s\">%s</span> %s = ", c->drifted ? "bad" : "ok",
                   c->drifted ? "drift" : "no drift", kiln_drift_method_name(c->method));
    kiln_html_num(w, isnan(c->p_value) ? c->statistic : c->p_value);
    kiln_hw_printf(w, " %s ", isnan(c->p_value) ? "(value)" : "(p-value)");
    kiln_hw_puts(w, "threshold ");
    kiln_html_num(w, c->threshold);
    if (c->approximate)
        kiln_hw_puts(w, " <span class=\"muted\">(approximate: from a sketch)</span>");
    kiln_hw_puts(w, "</p>");
    kiln_html_bars(w, (const char *const *)c->bin_labels, c->ref_share, c->cur_share, c->nbins,
                   "reference", "current", 60);
    kiln_hw_puts(w, "<table><tr><th>psi</th><th>kl</th><th>js</th>");
    if (strcmp(c->type, "numeric") == 0)
        kiln_hw_puts(w, "<th>ks D</th><th>ks p</th><th>wasserstein (normed)</th>");
    else
        kiln_hw_puts(w, "<th>chi-square</th><th>p</th><th>unseen share</th>");
    kiln_hw_puts(w, "</tr><tr>");
    {
        double v[6] = { c->psi, c->kl_divergence, c->jensenshannon, 0, 0, 0 };
        if (strcmp(c->type, "numeric") == 0) {
            v[3] = c->ks_statistic;
            v[4] = c->ks_p_value;
            v[5] = c->wasserstein_normed;
        } else {
            v[3] = c->chisquare_statistic;
            v[4] = c->chisquare_p_value;
            v[5] = c->unseen_share;
        }
        for (int i = 0; i < 6; i++) {
            kiln_hw_puts(w, "<td class=\"num\">");
            kiln_html_num(w, v[i]);
            kiln_hw_puts(w, "</td>");
        }
    }
    kiln_hw_puts(w, "</tr></table></div>");
}

int kiln_drift_result_html(const struct kiln_drift_result *r, struct kiln_buf *out)
{
    struct kiln_hw w = { out, KILN_OK };
    kiln_html_begin(&w, "kiln drift report");
    kiln_hw_puts(&w, "<h1>Drift report</h1><p class=\"muted\">current <code>");
    kiln_html_text(&w, r->current, (size_t)-1);
    kiln_hw_printf(&w, "</code> (%llu rows) against reference <code>",
                   (unsigned long long)r->current_rows);
    kiln_html_text(&w, r->reference, (size_t)-1);
    kiln_hw_printf(&w, "</code> (%llu rows)</p>", (unsigned long long)r->reference_rows);
    kiln_hw_printf(&w,
                   "<p><span class=\"badge %s\">%s</span> %zu of %zu columns drifted "
                   "(share %.3g; the data set drifts at %.3g)</p>",
                   r->dataset_drift ? "bad" : "ok",
                   r->dataset_drift ? "dataset drift" : "no dataset drift", r->n_drifted,
                   r->n_checked, r->drift_share, r->drift_share_threshold);
    kiln_hw_puts(&w, "<table><tr><th>column</th><th>type</th><th>method</th><th>statistic</th>"
                     "<th>p-value</th><th>threshold</th><th>drift</th></tr>");
    for (size_t i = 0; i < r->ncols; i++) {
        const struct kiln_drift_column *c = &r->cols[i];
        kiln_hw_puts(&w, "<tr><td>");
        kiln_html_text(&w, c->name, (size_t)-1);
        kiln_hw_puts(&w, "</td><td>");
        kiln_html_text(&w, c->type, (size_t)-1);
        kiln_hw_puts(&w, "</td><td>");
        kiln_hw_puts(&w, c->error != NULL ? "-" : kiln_drift_method_name(c->method));
        kiln_hw_puts(&w, "</td><td class=\"num\">");
        kiln_html_num(&w, c->statistic);
        kiln_hw_puts(&w, "</td><td class=\"num\">");
        kiln_html_num(&w, c->p_value);
        kiln_hw_puts(&w, "</td><td class=\"num\">");
        kiln_html_num(&w, c->error != NULL ? NAN : c->threshold);
        kiln_hw_printf(&w, "</td><td><span class=\"badge %s\">%s</span></td></tr>",
                       c->error != NULL ? "warn"
                       : c->drifted     ? "bad"
                                        : "ok",
                       c->error != NULL ? "error"
                       : c->drifted     ? "drift"
                                        : "ok");
    }
    kiln_hw_puts(&w, "</table>");
    for (size_t i = 0; i < r->nskipped; i++) {
        kiln_hw_puts(&w, "<p class=\"muted\">skipped <code>");
        kiln_html_text(&w, r->skipped[i], (size_t)-1);
        kiln_hw_puts(&w, "</code>: ");
        kiln_html_text(&w, r->skipped_reason[i], (size_t)-1);
        kiln_hw_puts(&w, "</p>");
    }
    kiln_hw_puts(&w, "<h2>Columns</h2><div class=\"grid\">");
    for (size_t i = 0; i < r->ncols; i++)
        html_column(&w, &r->cols[i]);
    kiln_hw_puts(&w, "</div>");
    kiln_html_end(&w);
    return w.rc;
}
