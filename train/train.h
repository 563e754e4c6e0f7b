#pragma once
// What every training program needs, above the model and its precision: checkpoints that
// resume bit-identically, a run folder, JSONL metrics, a progress line and the precision settings.
#include <mantissa/train/checkpoint.h>
#include <mantissa/train/metrics_log.h>
#include <mantissa/train/precision_settings.h>
#include <mantissa/train/progress.h>
#include <mantissa/train/run_dir.h>
