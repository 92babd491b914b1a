/*
 * quality_track.h - logging a drift or validation result to a tracking run
 * (`kiln drift|validate ... --run-id ID [--tracking-uri URI]`): metrics and tags through
 * runs/log-batch, and the HTML report as an artifact through the server's artifact proxy
 * (runs/get gives the run's artifact_uri; the report is PUT under it). CLI-only.
 */
#ifndef KILN_CLI_QUALITY_TRACK_H
#define KILN_CLI_QUALITY_TRACK_H

#include "core/err.h"
#include "quality/drift.h"
#include "quality/expect.h"

/*
 * Metrics: drift.dataset_drift (0/1), drift.drift_share, drift.drifted_columns,
 * drift.checked_columns, and per column drift.<column>.statistic, .p_value, .drifted (column
 * names reduced to MLflow's key alphabet); tags kiln.drift.reference and kiln.drift.current;
 * artifact drift_report.html. `tracking` may be NULL ($KILN_TRACKING_URI, ...).
 */
int kiln_qtrack_drift(const char *tracking, const char *run_id, const struct kiln_drift_result *r,
                      struct kiln_err *err);
/*
 * Metrics: validation.success (0/1), validation.evaluated_expectations,
 * validation.successful_expectations, validation.unsuccessful_expectations,
 * validation.success_percent, validation.rows; tags kiln.validation.data and
 * kiln.validation.suite; artifact validation_report.html.
 */
int kiln_qtrack_validation(const char *tracking, const char *run_id,
                           const struct kiln_validation *v, struct kiln_err *err);

#endif
