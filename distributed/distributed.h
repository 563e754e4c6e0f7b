#pragma once
// distributed/ in one include: the world and its process group, collectives, and
// low-precision gradient all-reduce (docs/distributed.md).
#include <mantissa/distributed/data_parallel.h>
#include <mantissa/distributed/grad_comm.h>
#include <mantissa/distributed/process_group.h>
#include <mantissa/distributed/reduce_op.h>
#include <mantissa/distributed/sharded_optimizer.h>
#include <mantissa/distributed/work.h>
#include <mantissa/distributed/world.h>
