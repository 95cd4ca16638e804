// The driver: layers, directions and the time loop around the kernels of kernels.h.
//
// Per layer and direction: one GEMM projects every timestep's input (biases folded in),
// then each step calls the fused step kernel over the rows still inside their sequence.
// Small layers on a batch fold the projection into the steps instead (kFoldMaxK).
// Nothing is allocated inside the time loop.
#include "gatedrnn/rnn.h"

#include "gatedrnn/dispatch.h"
#include "gatedrnn/thread_pool.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace gatedrnn {

namespace {

void require(bool ok, const std::string& msg) {
    if (!ok) throw std::invalid_argument(msg);
}

// An LSTM or GRU (linear_before_reset) layer whose input and output widths add up to at
// most kFoldMaxK, run on a batch of at least kFoldMinBatch rows (or for one step of one
// row), folds its input projection into the step: one sweep over [x_t, h] per step
// instead of a GEMM over all steps and then a sweep over h. The longer sweep amortises
// the tile set-up and the epilogue over twice the work, and gx never goes through memory
// (Zen 4, 1-2 threads, B = 8-64, I = H = 512: AVX-512 0.96-0.98x the time, AVX2
// 0.97-0.99x; I + H = 1024 with I = 256: 0.96x. Zen 3, AVX2, I = H = 256: 0.89-0.93x).
constexpr int kFoldMaxK = 1024;
constexpr int kFoldMinBatch = 8;

// Recurrent panels are packed for the kernels calls will use: the active ISA's (a bad
// GATEDRNN_ISA leaves none active yet; set_isa() will pick one, relaid on first use).
int active_lanes() {
    try {
        return active_kernels().lanes;
    } catch (const std::invalid_argument&) {
        return kBlock;
    }
}

}  // namespace

Network::Network(const NetworkConfig& c, const std::vector<DirectionWeights>& weights)
    : config_(c) {
    require(c.input_size > 0, "input_size must be positive, got " + std::to_string(c.input_size));
    require(c.hidden_size > 0, "hidden_size must be positive, got " + std::to_string(c.hidden_size));
    require(c.num_layers > 0, "num_layers must be positive, got " + std::to_string(c.num_layers));
    require(c.proj_size >= 0 && c.proj_size < c.hidden_size,
            "proj_size must be in [0, hidden_size), got " + std::to_string(c.proj_size));
    require(c.cell == CellType::lstm || c.proj_size == 0, "proj_size is only supported by LSTM");
    require(!(c.reverse && c.bidirectional), "reverse is for unidirectional networks");
    require(c.clip >= 0.0f, "clip must be positive (0 for none)");
    require(c.cell == CellType::lstm || !(c.input_forget || c.peepholes),
            "input_forget and peepholes are LSTM options");
    require(c.proj_size == 0 || !c.peepholes, "peepholes with proj_size are not supported");
    for (int l = 0; l < c.num_layers; ++l)  // per step and row, every direction
        flops_per_row_ += 2.0 * c.directions() *
                          (static_cast<double>(c.gates()) * c.hidden_size * (c.layer_input_size(l) + c.out_size()) +
                           static_cast<double>(c.proj_size) * c.hidden_size);
    const int D = c.directions();
    require(static_cast<int>(weights.size()) == c.num_layers * D,
            "expected " + std::to_string(c.num_layers * D) + " sets of weights, got " +
                std::to_string(weights.size()));

    const int H = c.hidden_size, G = c.gates(), Hout = c.out_size();
    const bool lstm = c.cell == CellType::lstm;
    const bool bf16 = c.precision == Precision::bf16, int8 = c.precision == Precision::int8;
    const auto pack = bf16 ? pack_panel_bf16 : int8 ? pack_panel_int8 : pack_panel;
    // int32 sums of u8 * s8 products (each below 2^15) stay exact up to K = 65536.
    require(!int8 || (c.input_size <= 65536 && c.hidden_size <= 65536 &&
                      (c.num_layers == 1 || c.directions() * c.out_size() <= 65536)),
            "int8: input and hidden sizes must be at most 65536");
    lanes_ = active_lanes();
    dirs_.reserve(weights.size());
    std::vector<float> bias(static_cast<size_t>(G) * H);
    for (int l = 0; l < c.num_layers; ++l) {
        for (int d = 0; d < D; ++d) {
            const DirectionWeights& w = weights[static_cast<size_t>(l * D + d)];
            require(w.w_ih && w.w_hh, "missing weight_ih / weight_hh");
            require(!lstm || c.proj_size == 0 || w.w_hr, "missing weight_hr");
            Direction dir;
            dir.w_ih = pack(w.w_ih, H, c.layer_input_size(l), 0, G, /*gate_major=*/true, kBlock);
            // Biases folded into the input projection: every b_ih, and every b_hh except the
            // GRU's b_hn when r multiplies it (linear_before_reset).
            for (int i = 0; i < G * H; ++i) {
                const bool hh_folds = lstm || !c.linear_before_reset || i < 2 * H;
                bias[i] = (w.b_ih ? w.b_ih[i] : 0.0f) + (w.b_hh && hh_folds ? w.b_hh[i] : 0.0f);
            }
            dir.gx_bias = pack_bias(bias.data(), H, 0, G);
            Recurrent& r = dir.rec;
            const int I = c.layer_input_size(l);
            // int8 never folds: x and h have scales of their own.
            if ((lstm || c.linear_before_reset) && I + Hout <= kFoldMaxK && !int8) {  // [W_ih | W_hh], row by row
                // bf16: an odd I is padded with a zero weight, so h starts on a whole pair.
                const int Ix = bf16 ? I + I % 2 : I;
                std::vector<float> cat(static_cast<size_t>(G) * H * (Ix + Hout));
                for (int row = 0; row < G * H; ++row) {
                    float* out = cat.data() + static_cast<ptrdiff_t>(row) * (Ix + Hout);
                    std::memcpy(out, w.w_ih + static_cast<ptrdiff_t>(row) * I, I * sizeof(float));
                    std::memcpy(out + Ix, w.w_hh + static_cast<ptrdiff_t>(row) * Hout, Hout * sizeof(float));
                }
                r.w_xh = pack(cat.data(), H, Ix + Hout, 0, G, false, lanes_);
            }
            if (lstm) {
                r.w_hh = pack(w.w_hh, H, Hout, 0, 4, false, lanes_);
                if (c.proj_size > 0) r.w_hr = pack(w.w_hr, c.proj_size, H, 0, 1, false, lanes_);
            } else if (c.linear_before_reset) {
                r.w_hh = pack(w.w_hh, H, H, 0, 3, false, lanes_);
                if (w.b_hh) dir.b_hn = pack_bias(w.b_hh, H, 2, 1);
            } else {
                r.w_hh = pack(w.w_hh, H, H, 0, 2, false, lanes_);
                r.w_hn = pack(w.w_hh, H, H, 2, 1, false, lanes_);
            }
            require(!c.peepholes || w.p, "missing peepholes");
            if (c.peepholes) dir.peepholes = pack_bias(w.p, H, 0, 3);
            const Activation* act = c.activations[d];
            const auto is = [](const Activation& a, ActKind k) { return a.kind == k; };
            dir.has_options = c.clip > 0.0f || c.input_forget || c.peepholes || !is(act[0], ActKind::sigmoid) ||
                              !is(act[1], ActKind::tanh) || (lstm && !is(act[2], ActKind::tanh));
            dir.options.peepholes = c.peepholes ? dir.peepholes.data() : nullptr;
            dir.options.clip = c.clip;
            dir.options.input_forget = c.input_forget;
            dir.options.f = act[0];
            dir.options.g = act[1];
            dir.options.h = act[2];
            dirs_.push_back(std::move(dir));
        }
    }
}

// One claimable chunk of a stage (see Schedule); on its own cache line.
struct alignas(64) ChunkSlot {
    std::atomic<int64_t> stage{-1};  // the last stage that claimed this chunk
};

// Row pointers of one step, one set per thread (each thread builds its own).
struct RowPointers {
    std::vector<const float*> h_prev, gx, x, op_prev;
    std::vector<float*> h_next, y, c, s1, s2, partial, op_next, op_s;
    explicit RowPointers(int B)
        : h_prev(B), gx(B), x(B), op_prev(B), h_next(B), y(B), c(B), s1(B), s2(B), partial(B), op_next(B),
          op_s(B) {}
    StepRows view(int n) {
        StepRows r;
        r.n = n;
        r.h_prev = h_prev.data();
        r.gx = gx.data();
        r.h_next = h_next.data();
        r.y = y.data();
        r.c = c.data();
        r.scratch = s1.data();
        r.scratch2 = s2.data();
        r.partial = partial.data();
        r.x = x.data();
        r.op_prev = op_prev.data();
        r.op_next = op_next.data();
        r.op_scratch = op_s.data();
        return r;
    }
};

// The scratch of one direction's pass: one set, or two when a bidirectional layer runs
// its directions concurrently.
struct DirectionScratch {
    AlignedBuffer gx;        // (T * B) rows of [blocks][G][16]
    AlignedBuffer h[2];      // double-buffered state rows, padded to whole blocks
    AlignedBuffer c;         // LSTM cell state rows
    AlignedBuffer s1, s2;    // step scratch rows (m; or r*h and z)
    AlignedBuffer partial;   // batched steps: partial sums, G x 16 floats per row and thread
    AlignedBuffer op[2];     // bf16: h rows as bf16 pairs (the operands), beside h
    AlignedBuffer op_s;      // bf16: s1 rows as bf16 pairs
    AlignedBuffer q;         // int8: per thread, phase 1's and phase 2's operand rows, quantised
    AlignedBuffer q_scale;   // int8: their scales
    std::vector<RowPointers> rows;  // per thread
    std::vector<ChunkSlot> slots;   // the Schedule's chunks
};

// Scratch for one call, sized once before any time loop.
struct Workspace {
    DirectionScratch dir[2];
    AlignedBuffer seq[2];    // outputs of inner layers, time-major (T, B, D * H_out)
    AlignedBuffer xb;        // bf16, int8: the layer's input as pairs / quads, row (t, b) at (t * B + b) * ld_xb
    AlignedBuffer xs;        // int8: the scale of each input row
    ptrdiff_t ld_gx = 0, ld_h = 0, ld_c = 0, ld_xb = 0;
    int threads = 1;
    bool small = false;  // a call of few FLOPs (see forward)
};

namespace {

// Thread tid's share [begin, end) of n blocks: contiguous, sizes differing by at most one.
std::pair<int, int> share(int n, int tid, int nthreads) {
    const int base = n / nthreads, extra = n % nthreads;
    const int begin = tid * base + std::min(tid, extra);
    return {begin, begin + base + (tid < extra ? 1 : 0)};
}

// Who computes what. A direction's work is a sequence of stages: the input projection,
// then one or two phases per step. A stage is split into chunks (contiguous ranges of
// hidden blocks); chunk c belongs to thread c * nthreads / chunks, which keeps the same
// weights in its cache every step. A thread does its own chunks, waits briefly for the
// others, then claims whatever chunk nobody has started, so a thread the OS has
// descheduled delays the rest by at most the chunk it holds. Each chunk is claimed once
// per stage with a compare-and-swap on its slot, and a stage is finished when the chunks
// completed so far reach its cumulative count.
class Schedule {
public:
    // Chunks of the projection (`projection`: 0 when the steps fold it in, and then no
    // thread waits for it), of phase 1 (`chunks`) and of phase 2 (0: none); the slots
    // come from the workspace (grown here if needed, so no allocation per call).
    // Eager: a thread done with its own chunks claims the unstarted ones at once, without
    // first waiting for their owner. For a call of a few steps, where no weights stay in
    // a thread's cache from step to step, that costs nothing, and a second thread that is
    // slow to arrive (asleep, or its core busy with another process) delays the call by
    // at most one chunk.
    Schedule(int projection, int chunks, int chunks2, int steps, std::vector<ChunkSlot>& slots, bool eager)
        : n_{projection, chunks, chunks2},
          eager_(eager),
          total_(static_cast<int64_t>(projection) + static_cast<int64_t>(steps) * (chunks + chunks2)) {
        const size_t needed = static_cast<size_t>(projection + chunks + chunks2);
        if (slots.size() < needed) slots = std::vector<ChunkSlot>(needed);
        slots_ = slots.data();
        for (size_t i = 0; i < needed; ++i) slots_[i].stage.store(-1, std::memory_order_relaxed);
    }

    int chunks(int kind) const { return n_[kind]; }

    // Stage number of phase p of step s (the projection is stage 0).
    static int64_t stage(int s, int p, bool two_phase) {
        return 1 + static_cast<int64_t>(s) * (two_phase ? 2 : 1) + p;
    }

    bool finished() const { return done_.load(std::memory_order_acquire) >= total_; }

    // How often a thread found another one stalled (a stage still unfinished long after
    // its own share of the stage's work would have taken).
    int64_t late() const { return late_.load(std::memory_order_relaxed); }

    // Whether the caller (thread 0, after the job) spent over 1.6x its own share's time in
    // the stages: the other thread's stalls cost more than the split saved (a 2-thread call
    // that gained less than ~1.25x). A thread descheduled now and then for a millisecond
    // or two, while the call still gains most of its speed-up, is not worth going solo for.
    bool held_back() const { return wall0_ * 5 > own0_ * 8; }

    // Runs this thread's share of `stage` (kind 0: projection, 1: phase 1, 2: phase 2),
    // then waits until every chunk of it is done, helping with unclaimed ones.
    // Descending: this thread's own chunks from its last one down.
    template <class F>
    void run_stage(int64_t stage, int kind, int tid, int nthreads, bool descending, const F& work) {
        using Clock = std::chrono::steady_clock;
        const int n = n_[kind];
        if (nthreads == 1) {  // alone: no claims, no waiting
            for (int c = 0; c < n; ++c) work(descending ? n - 1 - c : c);
            done_.fetch_add(n, std::memory_order_relaxed);
            return;
        }
        const int64_t target = completed_after(stage, kind);
        const auto first = [&](int t) { return (t * n + nthreads - 1) / nthreads; };  // first chunk of thread t
        const auto start = Clock::now();
        for (int c = first(tid); c < first(tid + 1); ++c)
            try_run(stage, kind, descending ? first(tid + 1) - 1 - (c - first(tid)) : c, work);
        const auto own = Clock::now() - start;  // this thread's share, as a yardstick
        const auto stage_done = [&] { return done_.load(std::memory_order_acquire) >= target; };
        const auto account = [&] {  // thread 0 (the caller) keeps the books of held_back()
            if (tid != 0) return;
            own0_ += own;
            wall0_ += Clock::now() - start;
        };
        if (!eager_ && wait_until(stage_done, std::chrono::microseconds(20), /*give_up=*/true)) return account();
        for (int c = 0; c < n; ++c) try_run(stage, kind, c, work);  // help: the owner is late
        wait_until(stage_done, std::chrono::microseconds(200));
        account();
        // Uneven chunks and cache misses make a thread wait a little; a thread that is not
        // running (the OS gave its core to something else) makes it wait for far longer
        // than the work itself takes. Only that counts towards going solo (and only when
        // this thread had a share to compare with).
        if (first(tid) < first(tid + 1) && Clock::now() - start > 3 * own + std::chrono::microseconds(100))
            late_.fetch_add(1, std::memory_order_relaxed);
    }

private:
    template <class F>
    void try_run(int64_t stage, int kind, int c, const F& work) {
        ChunkSlot& slot = slots_[(kind >= 1 ? n_[0] : 0) + (kind == 2 ? n_[1] : 0) + c];  // kinds in order
        int64_t seen = slot.stage.load(std::memory_order_relaxed);
        if (seen >= stage || !slot.stage.compare_exchange_strong(seen, stage, std::memory_order_acq_rel))
            return;
        work(c);
        done_.fetch_add(1, std::memory_order_acq_rel);
    }

    // Chunks completed once `stage` (of `kind`) is finished.
    int64_t completed_after(int64_t stage, int kind) const {
        if (kind == 0) return n_[0];
        const int per_step = n_[1] + n_[2];
        const int64_t step = (stage - 1) / (n_[2] > 0 ? 2 : 1);
        return n_[0] + step * per_step + (kind == 1 ? n_[1] : per_step);
    }

    int n_[3];
    bool eager_;
    ChunkSlot* slots_ = nullptr;
    int64_t total_;
    alignas(64) std::atomic<int64_t> done_{0};
    std::atomic<int64_t> late_{0};
    std::chrono::steady_clock::duration own0_{}, wall0_{};  // thread 0's share and its time in the stages
};

}  // namespace

Network::~Network() = default;

bool Network::folds(const Recurrent& rec, int T, int B) {
    // A single step of one row (streaming) folds too: it has nothing to amortise a GEMM over.
    return rec.w_xh.buf.size() > 0 && (B >= kFoldMinBatch || (T == 1 && B == 1));
}

const Network::Recurrent& Network::recurrent(size_t i, int lanes) const {
    if (lanes == lanes_) return dirs_[i].rec;
    if (!relaid_ready_.load(std::memory_order_acquire)) {
        std::lock_guard<std::mutex> lock(relaid_mutex_);
        if (!relaid_ready_.load(std::memory_order_relaxed)) {
            std::vector<Recurrent> relaid;
            relaid.reserve(dirs_.size());
            for (const Direction& dir : dirs_) {
                const auto copy = [&](const Panel& p) { return p.buf.size() ? relayout(p, lanes) : Panel{}; };
                relaid.push_back(
                    Recurrent{copy(dir.rec.w_hh), copy(dir.rec.w_hn), copy(dir.rec.w_hr), copy(dir.rec.w_xh)});
            }
            relaid_ = std::move(relaid);
            relaid_ready_.store(true, std::memory_order_release);
        }
    }
    return relaid_[i];
}

void Network::forward(const ForwardCall& call, const KernelTable& kernels) const {
    const NetworkConfig& c = config_;
    const int T = call.T, B = call.B, D = c.directions(), L = c.num_layers;
    const int H = c.hidden_size, Hout = c.out_size();
    if (B == 0) return;  // empty outputs; T == 0 still copies the initial state out
    recurrent(0, kernels.lanes);  // relaid here if needed, not inside the pool's jobs

    std::unique_lock<std::mutex> reuse(workspace_mutex_, std::try_to_lock);
    std::unique_ptr<Workspace> own;
    if (!reuse.owns_lock()) {
        own = std::make_unique<Workspace>();
    } else if (!workspace_) {
        workspace_ = std::make_unique<Workspace>();
    }
    Workspace& ws = own ? *own : *workspace_;
    ws.ld_gx = static_cast<ptrdiff_t>(num_blocks(H)) * c.gates() * kBlock;
    ws.ld_h = static_cast<ptrdiff_t>(num_blocks(Hout)) * kBlock;
    ws.ld_c = static_cast<ptrdiff_t>(num_blocks(H)) * kBlock;
    const size_t seq_size = static_cast<size_t>(T) * B * D * Hout;
    for (int i = 0; i < std::min(L - 1, 2); ++i) ws.seq[i].reserve(seq_size);
    const bool bf16 = c.precision == Precision::bf16, int8 = c.precision == Precision::int8;
    const int per_element = bf16 ? 2 : int8 ? 4 : 1;  // inputs per packed element
    if (per_element > 1) {  // the widest layer input, packed
        const int widest = std::max(c.input_size, L > 1 ? D * Hout : 0);
        ws.xb.reserve(static_cast<size_t>(T) * B * ((widest + per_element - 1) / per_element));
        if (int8) ws.xs.reserve(static_cast<size_t>(T) * B);
    }
    // Threads split the hidden units. Below ~4 MFLOP per call (a streaming step) waking a
    // sleeping second thread costs more than it saves: such calls use it only when they
    // come back to back (it is still awake), and below ~0.2 MFLOP never. With two threads,
    // a bidirectional layer runs its directions concurrently instead, one thread each: no
    // barrier between the threads at all.
    const double flops = this->flops(T, B);
    ws.threads = std::max(1, std::min(call.num_threads, num_blocks(H)));
    ws.small = flops < 4e6;
    if (ws.threads > 1 && ws.small)
        ws.threads = flops >= 2e5 && ThreadPool::instance().frequent_small_call() ? ws.threads : 1;
    const bool concurrent = D == 2 && ws.threads == 2;
    const int per_direction = concurrent ? 1 : ws.threads;
    bool project = false;  // some direction projects its input up front (needs gx)
    for (size_t i = 0; i < dirs_.size(); ++i) project = project || !folds(recurrent(i, kernels.lanes), T, B);
    for (int set = 0; set < (concurrent ? 2 : 1); ++set) {
        DirectionScratch& sc = ws.dir[set];
        if (project) sc.gx.reserve(static_cast<size_t>(T) * B * ws.ld_gx);
        for (auto& h : sc.h) h.reserve(static_cast<size_t>(B) * ws.ld_h);
        sc.c.reserve(static_cast<size_t>(B) * ws.ld_c);
        sc.s1.reserve(static_cast<size_t>(B) * ws.ld_c);
        sc.s2.reserve(static_cast<size_t>(B) * ws.ld_c);
        if (B > 1) sc.partial.reserve(static_cast<size_t>(per_direction) * B * c.gates() * kBlock);
        if (bf16) {
            for (auto& op : sc.op) op.reserve(static_cast<size_t>(B) * ws.ld_h / 2);
            sc.op_s.reserve(static_cast<size_t>(B) * ws.ld_c / 2);
        }
        if (int8) {  // per thread and phase: B rows of ld_c / 4 quads, B scales
            sc.q.reserve(static_cast<size_t>(per_direction) * 2 * B * ws.ld_c / 4);
            sc.q_scale.reserve(static_cast<size_t>(per_direction) * 2 * B);
        }
        // The Schedule's slots too: in concurrent mode it is built inside the pool's job,
        // where an allocation that throws could not unwind safely.
        const size_t slots = 3 * static_cast<size_t>(std::min(num_blocks(H), per_direction > 1 ? 2 * per_direction : 1));
        if (sc.slots.size() < slots) sc.slots = std::vector<ChunkSlot>(slots);
        if (sc.rows.size() < static_cast<size_t>(per_direction) ||
            (!sc.rows.empty() && sc.rows[0].h_prev.size() < static_cast<size_t>(B)))
            sc.rows.assign(static_cast<size_t>(std::max<int>(per_direction, static_cast<int>(sc.rows.size()))),
                           RowPointers(B));
    }

    const ptrdiff_t I0 = c.input_size, W = static_cast<ptrdiff_t>(D) * Hout;
    const SeqLayout x_layout = call.batch_first ? SeqLayout{I0, T * I0} : SeqLayout{B * I0, I0};
    const SeqLayout y_layout = call.batch_first ? SeqLayout{W, T * W} : SeqLayout{B * W, W};
    const SeqLayout inner_layout{B * W, W};

    for (int l = 0; l < L; ++l) {
        const bool last = l == L - 1;
        const float* in = l == 0 ? call.x : ws.seq[(l - 1) % 2].data();
        const SeqLayout in_layout = l == 0 ? x_layout : inner_layout;
        float* out = last ? call.y : ws.seq[l % 2].data();
        const SeqLayout out_layout = last ? y_layout : inner_layout;
        if (per_element > 1) {  // the layer's input, rounded / quantised once for every step and direction
            const int I = c.layer_input_size(l);
            ws.ld_xb = (I + per_element - 1) / per_element;
            for (int t = 0; t < T; ++t)
                for (int b = 0; b < B; ++b) {
                    const float* row = in + t * in_layout.st + b * in_layout.sb;
                    const ptrdiff_t m = static_cast<ptrdiff_t>(t) * B + b;
                    if (bf16) {
                        kernels.to_bf16(row, ws.xb.data() + m * ws.ld_xb, I);
                    } else {
                        ws.xs.data()[m] = kernels.quantize_u8(row, ws.xb.data() + m * ws.ld_xb, I);
                    }
                }
        }
        const auto pass = [&](int d, DirectionScratch& sc, int nthreads) {
            const size_t i = static_cast<size_t>(l * D + d);
            run_direction(dirs_[i], recurrent(i, kernels.lanes), kernels, call, l, d, in, in_layout, out,
                          out_layout, ws, sc, nthreads);
        };
        if (!concurrent) {
            for (int d = 0; d < D; ++d) pass(d, ws.dir[0], ws.threads);
            continue;
        }
        // The two directions at once, one thread each, each with its own scratch (they
        // write different columns of y and different states). Each thread claims a
        // direction until none is left, so one that starts late finds its work done; the
        // caller then waits for a direction still running on the other thread.
        std::atomic<int> next{0}, finished{0};
        bool stalled = false;
        ThreadPool::instance().run(2, [&](int tid, int) {
            using Clock = std::chrono::steady_clock;
            const auto start = Clock::now();
            for (int d; (d = next.fetch_add(1, std::memory_order_relaxed)) < 2;) {
                pass(d, ws.dir[d], 1);
                finished.fetch_add(1, std::memory_order_release);
            }
            if (tid != 0) return;
            const auto own = Clock::now() - start;
            const auto all_done = [&] { return finished.load(std::memory_order_acquire) == 2; };
            if (wait_until(all_done, std::chrono::microseconds(20), /*give_up=*/true)) return;
            wait_until(all_done, std::chrono::microseconds(200));
            stalled = Clock::now() - start > 3 * own + std::chrono::microseconds(100);
        });
        // The other thread was not running for most of the layer: the cores are busy.
        if (stalled) ThreadPool::instance().report_contention();
    }
}

void Network::run_direction(const Direction& dir, const Recurrent& rec, const KernelTable& kernels,
                            const ForwardCall& call, int layer, int d, const float* in,
                            SeqLayout in_layout, float* out, SeqLayout out_layout,
                            const Workspace& ws, DirectionScratch& sc, int nthreads) const {
    const NetworkConfig& c = config_;
    const int T = call.T, B = call.B, H = c.hidden_size, Hout = c.out_size();
    const bool lstm = c.cell == CellType::lstm, reverse = d == 1 || c.reverse;
    const bool bf16 = c.precision == Precision::bf16, int8 = c.precision == Precision::int8;
    const PrecisionKernels& k = bf16 ? kernels.bf16 : int8 ? kernels.int8 : kernels.f32;
    const int state = layer * c.directions() + d;
    const ptrdiff_t ld_op = ws.ld_h / 2, ld_ops = ws.ld_c / 2;  // bf16 operand rows, in pairs
    const ptrdiff_t ld_q = ws.ld_c / 4;                         // int8 operand rows, in quads

    // 1. Initial state (padding lanes stay zero).
    float* h_buf[2] = {sc.h[0].data(), sc.h[1].data()};
    for (int b = 0; b < B; ++b) {
        float* hr = h_buf[0] + b * ws.ld_h;
        std::memset(hr, 0, ws.ld_h * sizeof(float));  // padding lanes too: the buffer is reused
        if (call.h0) std::memcpy(hr, call.h0 + (static_cast<ptrdiff_t>(state) * B + b) * Hout, Hout * sizeof(float));
        if (lstm) {
            float* cr = sc.c.data() + b * ws.ld_c;
            std::memset(cr, 0, ws.ld_c * sizeof(float));
            if (call.c0) std::memcpy(cr, call.c0 + (static_cast<ptrdiff_t>(state) * B + b) * H, H * sizeof(float));
        }
        if (bf16) kernels.to_bf16(hr, sc.op[0].data() + b * ld_op, ws.ld_h);
    }

    // A row's final state is the state after its last valid step: copied out when the
    // step counter reaches its length (rows past their length are not stepped).
    float* h_n = call.h_n + static_cast<ptrdiff_t>(state) * B * Hout;
    const auto capture = [&](int b, const float* h_cur) {
        std::memcpy(h_n + static_cast<ptrdiff_t>(b) * Hout, h_cur + b * ws.ld_h, Hout * sizeof(float));
    };
    const auto length = [&](int b) { return call.lengths ? static_cast<int>(call.lengths[b]) : T; };

    // Whether the kernels prefetch a panel's next pass during this one: where a thread's
    // slice is several times its L2, it comes from L3 or memory every step (every chunk of
    // GEMM rows). A smaller slice partly stays in cache, and there the prefetches gain
    // nothing and cost a little (AVX2, batch 32, H = 256, a 2 MiB panel: 1-3 %).
    const auto streams = [](const Panel& w, int nt) {
        return w.buf.size() * sizeof(float) / std::max(nt, 1) > 4 * l2_cache_bytes();
    };
    const int nblk = num_blocks(H);
    // The input projection folded into the step (see kFoldMaxK), or one GEMM up front.
    const bool fold = folds(rec, T, B);
    const int pblk = c.proj_size > 0 ? num_blocks(c.proj_size) : 0;
    const bool two_phase = pblk > 0 || (!lstm && !c.linear_before_reset);
    int steps = 0;  // steps that run: up to the longest sequence
    for (int b = 0; b < B; ++b) steps = std::max(steps, length(b));

    // 2. The work of the direction as chunks of hidden blocks: the input projection, then
    //    one or two phases per step. Every chunk of a phase must be done before the next
    //    phase starts; each output is computed by exactly one thread, with the same
    //    arithmetic whoever it is, so results do not depend on the threads.
    const int per_thread = nthreads > 1 ? 2 : 1;
    const int chunks = std::min(nblk, nthreads * per_thread);
    const int chunks2 = two_phase ? std::min(pblk > 0 ? pblk : nblk, nthreads * per_thread) : 0;
    Schedule sched(fold ? 0 : chunks, chunks, chunks2, steps, sc.slots, /*eager=*/ws.small);

    ThreadPool::instance().run(nthreads, [&](int tid, int nt) {
        RowPointers& rp = sc.rows[static_cast<size_t>(tid)];
        // Stage 0: gx, the input projection of every step, by blocks of hidden units (no
        // chunks when the steps fold it in).
        sched.run_stage(0, 0, tid, nt, false, [&](int chunk) {
            const auto [b0, b1] = share(nblk, chunk, sched.chunks(0));
            GemmArgs g;
            const bool packed = bf16 || int8;
            g.a = packed ? ws.xb.data() : in;
            g.a_st = packed ? B * ws.ld_xb : in_layout.st;
            g.a_sb = packed ? ws.ld_xb : in_layout.sb;
            g.a_scale = int8 ? ws.xs.data() : nullptr;
            g.rows_per_t = B;
            g.m_begin = 0;
            g.m_end = T * B;
            g.w = dir.w_ih.view();
            g.blk_begin = b0;
            g.blk_end = b1;
            g.bias = dir.gx_bias.data();
            g.c = sc.gx.data();
            g.ldc = ws.ld_gx;
            g.lookahead = streams(dir.w_ih, nt);
            k.gemm(g);
        });
        for (int s = 0; s < steps && !sched.finished(); ++s) {
            const float* h_cur = h_buf[s % 2];
            float* h_nxt = h_buf[1 - s % 2];
            int n = 0;
            for (int b = 0; b < B; ++b) {
                const int len = length(b);
                if (s >= len) continue;
                const int t = reverse ? len - 1 - s : s;
                rp.h_prev[n] = h_cur + b * ws.ld_h;
                rp.h_next[n] = h_nxt + b * ws.ld_h;
                if (fold) {  // the step's input row; gx: the biases, the same for every row
                    rp.x[n] = bf16 ? ws.xb.data() + (static_cast<ptrdiff_t>(t) * B + b) * ws.ld_xb
                                   : in + t * in_layout.st + b * in_layout.sb;
                    rp.gx[n] = dir.gx_bias.data();
                } else {
                    rp.gx[n] = sc.gx.data() + (static_cast<ptrdiff_t>(t) * B + b) * ws.ld_gx;
                }
                rp.y[n] = out + t * out_layout.st + b * out_layout.sb + static_cast<ptrdiff_t>(d) * Hout;
                rp.c[n] = sc.c.data() + b * ws.ld_c;
                rp.s1[n] = sc.s1.data() + b * ws.ld_c;
                rp.s2[n] = sc.s2.data() + b * ws.ld_c;
                rp.partial[n] = B > 1 ? sc.partial.data() + (static_cast<ptrdiff_t>(tid) * B + b) * c.gates() * kBlock
                                      : nullptr;
                if (bf16) {
                    rp.op_prev[n] = sc.op[s % 2].data() + b * ld_op;
                    rp.op_next[n] = sc.op[1 - s % 2].data() + b * ld_op;
                    rp.op_s[n] = sc.op_s.data() + b * ld_ops;
                }
                ++n;
            }
            // int8: a thread quantises every row's operand itself (whole rows: the scales do
            // not depend on the thread split), when it runs its first chunk of a phase. Then
            // the rows are complete and stay so: the phase cannot end, and the next step
            // overwrite them, before that chunk is done.
            float* q1 = int8 ? sc.q.data() + static_cast<ptrdiff_t>(tid) * 2 * B * ld_q : nullptr;
            float* q2 = int8 ? q1 + B * ld_q : nullptr;
            float* qs1 = int8 ? sc.q_scale.data() + static_cast<ptrdiff_t>(tid) * 2 * B : nullptr;
            float* qs2 = int8 ? qs1 + B : nullptr;
            bool quantised[3] = {false, false, false};
            const auto quantise = [&](int kind) {
                if (!int8 || quantised[kind]) return;
                quantised[kind] = true;
                for (int j = 0; j < n; ++j) {
                    if (kind == 1) {  // h_prev (H_out) for phase 1
                        qs1[j] = kernels.quantize_u8(rp.h_prev[j], q1 + j * ld_q, Hout);
                        rp.op_prev[j] = q1 + j * ld_q;
                    } else {  // the scratch rows (H: m, or r * h) for phase 2
                        qs2[j] = kernels.quantize_u8(rp.s1[j], q2 + j * ld_q, H);
                        rp.op_s[j] = q2 + j * ld_q;
                    }
                }
            };
            StepArgs args;
            args.rows = rp.view(n);
            args.b_hn = dir.b_hn.data();
            args.write_m = c.proj_size > 0;
            args.kx = fold ? rec.w_xh.K - (bf16 ? (Hout + 1) / 2 : Hout) : 0;  // k-rows over x
            args.options = dir.has_options ? &dir.options : nullptr;
            // Odd steps sweep the weights backwards (see step_loop): the end of a thread's
            // slice, the part still in its L2, comes first.
            const bool descending = s % 2 == 1;
            args.descending = descending;
            const auto run = [&](StepKernel kernel, const Panel& w, int nblocks, int kind, int chunk) {
                const auto [b0, b1] = share(nblocks, chunk, sched.chunks(kind));
                quantise(kind);
                StepArgs a = args;
                a.rows.op_scale = kind == 2 ? qs2 : qs1;
                a.w = w.view();
                a.blk_begin = b0;
                a.blk_end = b1;
                a.lookahead = streams(w, nt);
                kernel(a);
            };
            // Phase 1: the fused step over the chunk's blocks. Chunk 0 also copies out the
            // final state of the rows that ended here (step s + 1 overwrites h_cur).
            sched.run_stage(Schedule::stage(s, 0, two_phase), 1, tid, nt, descending, [&](int chunk) {
                if (chunk == 0)
                    for (int b = 0; b < B; ++b)
                        if (length(b) == s) capture(b, h_cur);
                if (lstm) {
                    run(k.lstm_step, fold ? rec.w_xh : rec.w_hh, nblk, 1, chunk);
                } else if (c.linear_before_reset) {
                    run(k.gru_step, fold ? rec.w_xh : rec.w_hh, nblk, 1, chunk);
                } else {
                    run(k.gru_gates, rec.w_hh, nblk, 1, chunk);
                }
            });
            if (!two_phase) continue;
            // Phase 2: a product that needs all of phase 1 (the LSTM projection of m, or the
            // GRU candidate from r * h).
            sched.run_stage(Schedule::stage(s, 1, two_phase), 2, tid, nt, descending, [&](int chunk) {
                if (pblk > 0) {
                    run(k.lstm_proj, rec.w_hr, pblk, 2, chunk);
                } else {
                    run(k.gru_cand, rec.w_hn, nblk, 2, chunk);
                }
            });
        }
    });

    // Threads that keep waiting for each other share their cores with something else:
    // let the next calls run on one thread.
    // A small call has a stage or two to judge by: one held up by a stalled thread is enough.
    // A larger call, only if the stalls held it back overall (see held_back): going solo
    // costs the next call half its speed.
    if (nthreads > 1 && (ws.small ? sched.late() > 0 : sched.late() > 2 + steps / 16 && sched.held_back()))
        ThreadPool::instance().report_contention();

    for (int b = 0; b < B; ++b)
        if (length(b) == steps) capture(b, h_buf[steps % 2]);

    // Final cell state: c is updated in place and frozen once a row ends.
    if (lstm && call.c_n) {
        float* c_n = call.c_n + static_cast<ptrdiff_t>(state) * B * H;
        for (int b = 0; b < B; ++b)
            std::memcpy(c_n + static_cast<ptrdiff_t>(b) * H, sc.c.data() + b * ws.ld_c, H * sizeof(float));
    }

    // Outputs past a row's length are zero.
    if (call.lengths) {
        for (int b = 0; b < B; ++b)
            for (int t = length(b); t < T; ++t)
                std::memset(out + t * out_layout.st + b * out_layout.sb + static_cast<ptrdiff_t>(d) * Hout, 0,
                            Hout * sizeof(float));
    }
}

}  // namespace gatedrnn
