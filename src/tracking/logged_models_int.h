/*
 * logged_models_int.h - what the logged-model files of src/tracking/ share (logged_models.c
 * and logged_model_search.c).
 */
#ifndef KILN_TRACKING_LOGGED_MODELS_INT_H
#define KILN_TRACKING_LOGGED_MODELS_INT_H

#include "store/store.h"
#include "tracking/logged_models.h"

/*
 * Loads an active model with its tags, params and metrics inside `tx`. KILN_ENOENT
 * ("Logged model with ID '<id>' not found.") when unknown or deleted.
 */
int kiln_logged_model_load(struct kiln_tx *tx, struct kiln_arena *arena, const char *model_id,
                           struct kiln_logged_model **out, struct kiln_err *err);
/* Sets MLflow's "not found" error for model_id and returns KILN_ENOENT. */
int kiln_logged_model_not_found(struct kiln_err *err, const char *model_id);

#endif
