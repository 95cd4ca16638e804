// The scalar kernels: every algorithm of ../generic/ compiled over vec_scalar.h.
#include "vec_scalar.h"
#define GATEDRNN_ISA scalar
#define GATEDRNN_PORTABLE_KERNELS 1  // (instantiate.h, tile.h)
#include "../generic/instantiate.h"
