#pragma once
// The public API in one include.
#include <mantissa/autograd/anomaly_mode.h>
#include <mantissa/autograd/engine.h>
#include <mantissa/autograd/function.h>
#include <mantissa/autograd/functions.h>
#include <mantissa/autograd/grad_mode.h>
#include <mantissa/autograd/gradcheck.h>
#include <mantissa/core/error.h>
#include <mantissa/core/print.h>
#include <mantissa/core/random.h>
#include <mantissa/core/tensor.h>
#include <mantissa/core/threads.h>
#include <mantissa/core/version.h>
#include <mantissa/distributed/distributed.h>
#include <mantissa/nn/nn.h>
#include <mantissa/optim/optim.h>
