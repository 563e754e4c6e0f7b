#pragma once
// What every training program needs, above the model and its precision: checkpoints that
// resume bit-identically, a run folder (locked while a trainer writes it), JSONL metrics, a
// progress line, the precision settings, a clean stop on SIGINT or SIGTERM and the check
// that a resumed run is given its own options.
#include <mantissa/train/checkpoint.h>
#include <mantissa/train/metrics_log.h>
#include <mantissa/train/precision_settings.h>
#include <mantissa/train/progress.h>
#include <mantissa/train/resume_check.h>
#include <mantissa/train/run_dir.h>
#include <mantissa/train/run_lock.h>
#include <mantissa/train/stop_signals.h>
