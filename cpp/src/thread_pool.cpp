// The thread pool and its barrier (see thread_pool.h).
#include "gatedrnn/thread_pool.h"

#include <chrono>

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__) || defined(_M_IX86)
#include <immintrin.h>
#define GATEDRNN_PAUSE() _mm_pause()
#else
#define GATEDRNN_PAUSE() std::this_thread::yield()
#endif

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define GATEDRNN_HAVE_ATFORK 1
#endif

namespace gatedrnn {

namespace {

using Clock = std::chrono::steady_clock;

// Spin until done() for about `budget`, checking the clock every 64 pauses (a pause costs
// tens of nanoseconds); returns whether done() became true.
template <class Done>
bool spin_for(Clock::duration budget, const Done& done) {
    const auto start = Clock::now();
    for (;;) {
        for (int i = 0; i < 64; ++i) {
            if (done()) return true;
            GATEDRNN_PAUSE();
        }
        if (Clock::now() - start > budget) return done();
    }
}

// A barrier wait longer than this yields the CPU between checks; a worker idle longer
// than kIdleSpin between jobs sleeps on a condition variable.
constexpr auto kBarrierSpin = std::chrono::microseconds(200);
constexpr auto kIdleSpin = std::chrono::microseconds(500);

ThreadPool* g_pool = nullptr;
std::once_flag g_pool_once;

}  // namespace

void Barrier::reset(int participants) {
    n_ = participants;
    arrived_.store(0, std::memory_order_relaxed);
}

void Barrier::wait() {
    if (n_ <= 1) return;
    const uint32_t gen = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) == n_ - 1) {
        arrived_.store(0, std::memory_order_relaxed);
        generation_.store(gen + 1, std::memory_order_release);
        return;
    }
    const auto passed = [&] { return generation_.load(std::memory_order_acquire) != gen; };
    if (spin_for(kBarrierSpin, passed)) return;
    while (!passed()) std::this_thread::yield();
}

void reset_pool_after_fork() {
    // The child has none of the parent's workers: start over with a fresh, empty pool
    // (the old object is abandoned; its mutexes may be held by threads that no longer exist).
    g_pool = new ThreadPool();
}

ThreadPool& ThreadPool::instance() {
    std::call_once(g_pool_once, [] {
        g_pool = new ThreadPool();
#if defined(GATEDRNN_HAVE_ATFORK)
        pthread_atfork(nullptr, nullptr, [] { reset_pool_after_fork(); });
#endif
    });
    return *g_pool;
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(wake_mutex_);
        stop_ = true;
    }
    wake_cv_.notify_all();
    for (auto& w : workers_) w.join();
}

void ThreadPool::run_impl(int requested, JobFn fn, void* ctx) {
    std::unique_lock<std::mutex> busy(run_mutex_, std::defer_lock);
    if (requested <= 1 || !busy.try_lock()) {
        Barrier solo;
        solo.reset(1);
        fn(ctx, 0, 1, solo);
        return;
    }
    while (static_cast<int>(workers_.size()) < requested - 1) {
        const int tid = static_cast<int>(workers_.size()) + 1;
        workers_.emplace_back([this, tid] { worker_loop(tid); });
    }
    fn_ = fn;
    ctx_ = ctx;
    nthreads_.store(requested, std::memory_order_relaxed);
    barrier_.reset(requested);
    pending_.store(requested - 1, std::memory_order_relaxed);
    epoch_.fetch_add(1, std::memory_order_release);
    {
        std::lock_guard<std::mutex> lock(wake_mutex_);
        if (sleepers_ > 0) wake_cv_.notify_all();
    }
    fn(ctx, 0, requested, barrier_);
    const auto finished = [&] { return pending_.load(std::memory_order_acquire) == 0; };
    if (!spin_for(kBarrierSpin, finished))
        while (!finished()) std::this_thread::yield();
}

void ThreadPool::worker_loop(int tid) {
    uint64_t seen = 0;
    for (;;) {
        const auto posted = [&] { return epoch_.load(std::memory_order_acquire) != seen; };
        if (!spin_for(kIdleSpin, posted)) {
            std::unique_lock<std::mutex> lock(wake_mutex_);
            ++sleepers_;
            wake_cv_.wait(lock, [&] { return stop_ || posted(); });
            --sleepers_;
            if (stop_) return;
        }
        seen = epoch_.load(std::memory_order_acquire);
        const int n = nthreads_.load(std::memory_order_relaxed);
        if (tid < n) {
            fn_(ctx_, tid, n, barrier_);
            pending_.fetch_sub(1, std::memory_order_acq_rel);
        }
    }
}

}  // namespace gatedrnn
