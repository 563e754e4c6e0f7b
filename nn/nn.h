#pragma once
// Everything models are written with.
#include <mantissa/nn/activation.h>
#include <mantissa/nn/attention.h>
#include <mantissa/nn/container.h>
#include <mantissa/nn/conv.h>
#include <mantissa/nn/dropout.h>
#include <mantissa/nn/embedding.h>
#include <mantissa/nn/functional.h>
#include <mantissa/nn/fused_attention.h>
#include <mantissa/nn/init.h>
#include <mantissa/nn/linear.h>
#include <mantissa/nn/module.h>
#include <mantissa/nn/normalization.h>
#include <mantissa/nn/transformer.h>
