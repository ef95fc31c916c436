/* progress.h - progress on stderr: on a terminal one bar per stage redrawn in place
 * (steps, s/it, ETA); otherwise one plain line per step, fit for CI logs. Silent
 * under --quiet. */
#ifndef ZT_PROGRESS_H
#define ZT_PROGRESS_H

#include <stdint.h>

typedef struct zt_progress zt_progress;

/* Begin a stage of total steps ("denoising", 50). total 0: unknown. */
zt_progress *zt_progress_begin(const char *stage, int64_t total);
/* Report that step done (1-based) finished. */
void zt_progress_update(zt_progress *p, int64_t done);
/* Finish the stage (prints its total time); frees p. NULL is a no-op. */
void zt_progress_end(zt_progress *p);
/* The stage failed or was interrupted: end the bar's line without a summary; frees p. */
void zt_progress_abort(zt_progress *p);

double zt_now_seconds(void);

#endif
