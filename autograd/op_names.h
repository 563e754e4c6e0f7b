#pragma once
#include <mantissa/autograd/node.h>

// Declares the registered name of a differentiable op, for use with record().
#define MANTISSA_DIFFERENTIABLE(op) \
  static const char* const op_##op = ::mantissa::register_differentiable_op(#op)
