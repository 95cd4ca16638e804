// The scalar kernels: every algorithm of ../generic/ compiled over vec_scalar.h.
#include "vec_scalar.h"
#define GATEDRNN_ISA scalar
#include "../generic/instantiate.h"
