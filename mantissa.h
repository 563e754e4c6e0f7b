#pragma once
// The public API in one include.
#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/grad_mode.h"
#include "autograd/gradcheck.h"
#include "core/error.h"
#include "core/print.h"
#include "core/random.h"
#include "core/tensor.h"
#include "nn/nn.h"
#include "optim/optim.h"
