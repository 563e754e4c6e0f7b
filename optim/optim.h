#pragma once
#include <mantissa/optim/adam.h>
#include <mantissa/optim/clip_grad.h>
#include <mantissa/optim/lr_scheduler.h>
#include <mantissa/optim/optimizer.h>
#include <mantissa/optim/sgd.h>
