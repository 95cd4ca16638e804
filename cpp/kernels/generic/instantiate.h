// Compiles every generic kernel for one ISA. An ISA's kernels_<isa>.cpp includes its
// vec_<isa>.h, defines GATEDRNN_ISA as its name, then includes this file.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "gatedrnn/kernels.h"

// Inlining is decided in the source, not by the compiler's size budget (which changes with
// every edit): each step tile is a function of its own, so its k-loop has the registers to
// itself; what a tile calls once per row (the start values, the epilogue, sigmoid, tanh)
// is inlined into it. The portable ISA (scalar: a vector is several machine vectors)
// defines GATEDRNN_PORTABLE_KERNELS and leaves the second part to the compiler: forced, it
// would multiply the code (and the sanitizer build's time, ~4x).
#if defined(_MSC_VER)
#define GATEDRNN_TILE __declspec(noinline)
#else
#define GATEDRNN_TILE [[gnu::noinline]]
#endif
#if defined(_MSC_VER) || defined(GATEDRNN_PORTABLE_KERNELS)
#define GATEDRNN_INLINE
#else
#define GATEDRNN_INLINE __attribute__((always_inline))
#endif

#define GATEDRNN_PASTE_(a, b) a##__##b
#define GATEDRNN_PASTE(a, b) GATEDRNN_PASTE_(a, b)
#define GATEDRNN_STR_(a) #a
#define GATEDRNN_STR(a) GATEDRNN_STR_(a)
#define GATEDRNN_KERNEL(op) GATEDRNN_PASTE(op, GATEDRNN_ISA)
#define GATEDRNN_ISA_NAME GATEDRNN_STR(GATEDRNN_ISA)

namespace gatedrnn::GATEDRNN_ISA {
namespace {
#include "activation.h"
#include "tile.h"
#include "gemm.h"
#include "lstm_step.h"
#include "gru_step.h"
}  // namespace
#include "kernel_table.h"
}  // namespace gatedrnn::GATEDRNN_ISA
