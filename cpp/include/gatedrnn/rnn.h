// The C++ API: a stack of LSTM or GRU layers with packed weights, run over a sequence.
// Plain structs and raw pointers; usable without Python.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "gatedrnn/kernels.h"
#include "gatedrnn/pack.h"

namespace gatedrnn {

enum class CellType { lstm, gru };


struct NetworkConfig {
    CellType cell = CellType::lstm;
    int input_size = 0;
    int hidden_size = 0;
    int num_layers = 1;
    bool bidirectional = false;
    int proj_size = 0;                 // LSTM only; 0 = none
    bool linear_before_reset = true;   // GRU only
    // The ONNX operators' options (defaults: PyTorch's cell).
    bool reverse = false;              // unidirectional: every row runs from its last valid step back
    float clip = 0.0f;                 // > 0: pre-activations clamped to [-clip, clip]
    bool input_forget = false;         // LSTM: f = 1 - i
    bool peepholes = false;            // LSTM: DirectionWeights::p given
    Precision precision = Precision::fp32;
    // Per direction: f (gates), g (candidate), h (LSTM output of the cell state).
    Activation activations[2][3] = {{{ActKind::sigmoid}, {ActKind::tanh}, {ActKind::tanh}},
                                    {{ActKind::sigmoid}, {ActKind::tanh}, {ActKind::tanh}}};

    int directions() const { return bidirectional ? 2 : 1; }
    int gates() const { return cell == CellType::lstm ? 4 : 3; }
    int out_size() const { return proj_size > 0 ? proj_size : hidden_size; }  // H_out
    int layer_input_size(int layer) const {
        return layer == 0 ? input_size : directions() * out_size();
    }
};

// One direction of one layer in PyTorch's layout (row-major float32, gate-major rows):
// w_ih (G*H, I_l), w_hh (G*H, H_out), b_ih and b_hh (G*H) or null, w_hr (P, H) or null,
// p (3*H) or null.
struct DirectionWeights {
    const float* w_ih = nullptr;
    const float* w_hh = nullptr;
    const float* b_ih = nullptr;
    const float* b_hh = nullptr;
    const float* w_hr = nullptr;
    const float* p = nullptr;  // LSTM peepholes (3*H: i, f, o) when config.peepholes
};

// A sequence in memory: element (t, b) starts at data + t * st + b * sb (floats).
struct SeqLayout {
    ptrdiff_t st = 0, sb = 0;
};

struct ForwardCall {
    const float* x = nullptr;        // (T, B, I), or (B, T, I) when batch_first
    int T = 0, B = 0;
    bool batch_first = false;
    const float* h0 = nullptr;       // (L*D, B, H_out) or null for zeros
    const float* c0 = nullptr;       // (L*D, B, H), LSTM only, or null
    const int64_t* lengths = nullptr;  // (B,), 0 <= len <= T, or null for all T
    float* y = nullptr;              // (T, B, D*H_out), or (B, T, D*H_out) when batch_first
    float* h_n = nullptr;            // (L*D, B, H_out)
    float* c_n = nullptr;            // (L*D, B, H), LSTM only
    int num_threads = 1;             // threads to split hidden units across (results do not depend on it)
};

struct Workspace;         // per-call scratch buffers (rnn.cpp)
struct DirectionScratch;  // the part of it one direction's pass uses

class Network {
public:
    // Packs the weights (one entry per layer and direction: l0, l0_reverse, l1, ...).
    // Throws std::invalid_argument on an invalid configuration.
    Network(const NetworkConfig& config, const std::vector<DirectionWeights>& weights);
    ~Network();

    const NetworkConfig& config() const { return config_; }

    // Runs the whole stack. Shapes are the caller's responsibility (the bindings check
    // them). Never allocates inside the time loop; reuses its workspace across calls.
    void forward(const ForwardCall& call, const KernelTable& kernels) const;

    // The FLOPs of a call over T steps of B rows (2 per multiply-add): every layer's and
    // direction's input projection, recurrent product and projection.
    double flops(int T, int B) const { return flops_per_row_ * T * B; }

private:
    // A direction's recurrent panels, whose layout depends on the step kernels' lanes.
    struct Recurrent {
        Panel w_hh;       // LSTM: 4 gates; GRU lbr: 3 gates; GRU lbr=0: r and z
        Panel w_hn;       // GRU lbr=0: the candidate's recurrent weights
        Panel w_hr;       // LSTM projection, 1 gate over P, K = H
        Panel w_xh;       // LSTM, GRU lbr, small layers: [W_ih | W_hh], K = I_l + H_out (folded input)
    };
    struct Direction {
        Panel w_ih;       // G gates over H, K = layer input size (gate-major; bf16: pairs)
        Recurrent rec;    // packed for lanes_
        AlignedBuffer gx_bias;  // folded into the input projection
        AlignedBuffer b_hn;     // GRU lbr: the bias r multiplies
        AlignedBuffer peepholes;  // LSTM: [nblocks][3][16], gates i, f, o
        CellOptions options;      // used when has_options
        bool has_options = false;
    };

    // Direction i's recurrent panels for kernels of `lanes`: its own, or (after set_isa
    // switched to kernels of another width) a copy relaid once, on first use. Kernels come
    // in two widths (8 and 16 lanes), so there is at most one other.
    const Recurrent& recurrent(size_t i, int lanes) const;

    // Whether a direction with these panels folds its input projection into the steps
    // of a call with T steps of B rows (rnn.cpp, kFoldMaxK).
    static bool folds(const Recurrent& rec, int T, int B);

    void run_direction(const Direction& dir, const Recurrent& rec, const KernelTable& kernels,
                       const ForwardCall& call,
                       int layer, int d, const float* in, SeqLayout in_layout, float* out,
                       SeqLayout out_layout, const Workspace& ws, DirectionScratch& sc,
                       int nthreads) const;

    NetworkConfig config_;
    std::vector<Direction> dirs_;
    double flops_per_row_ = 0;  // flops(1, 1)
    int lanes_ = kBlock;  // the lanes dirs_' recurrent panels are packed for (the active ISA's)
    mutable std::mutex relaid_mutex_;
    mutable std::vector<Recurrent> relaid_;  // every direction's, for kernels of the other width
    mutable std::atomic<bool> relaid_ready_{false};
    // Scratch kept between calls, so a call allocates nothing beyond its outputs. A call
    // that finds it in use (another thread is calling the same model) makes its own.
    mutable std::mutex workspace_mutex_;
    mutable std::unique_ptr<Workspace> workspace_;
};

}  // namespace gatedrnn
