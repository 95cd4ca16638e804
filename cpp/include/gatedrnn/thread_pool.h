// The process-wide thread pool: persistent workers, one job at a time. No OpenMP runtime,
// so it lives peacefully beside PyTorch's and NumPy's in one process.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace gatedrnn {

// Waits until done() holds: spins with pause instructions for about `spin`, then yields
// the CPU between checks, so an oversubscribed machine still makes progress.
// Returns false if `spin` ran out (done() may still turn true later) and give_up is set.
template <class Done>
bool wait_until(const Done& done, std::chrono::nanoseconds spin, bool give_up = false);

class ThreadPool {
public:
    static ThreadPool& instance();

    // Runs job(tid, nthreads) on up to nthreads <= requested threads, the caller being
    // tid 0, and returns when the caller's job(0, ...) has returned and every worker that
    // joined has finished. A worker that has not joined by then skips the job, so the job
    // must be complete when job(0, ...) returns whoever else took part (the driver's
    // claimable chunks make it so). nthreads is 1 when the pool is busy with another
    // caller's job. Results must not depend on who computes what, which the kernels
    // guarantee.
    template <class F>
    void run(int requested, F&& job) {
        run_impl(requested, &trampoline<std::remove_reference_t<F>>, &job);
    }

    // A job tells the pool its threads kept waiting on each other (something else is using
    // the cores): calls in the next kSoloAfterContention run on the caller alone, then
    // threads are tried again.
    void report_contention();
    static constexpr std::chrono::milliseconds kSoloAfterContention{20};

    // A small job (a streaming step: tens of microseconds) gains from a second thread
    // only if that thread is awake; waking a sleeping worker costs about as much as the
    // job. Records such a call and tells whether the previous one came less than the
    // workers' idle spin ago, so that they are (or, after this call, will stay) awake.
    bool frequent_small_call();

    ~ThreadPool();

private:
    using JobFn = void (*)(void* ctx, int tid, int nthreads);
    template <class F>
    static void trampoline(void* ctx, int tid, int nthreads) {
        (*static_cast<F*>(ctx))(tid, nthreads);
    }
    void run_impl(int requested, JobFn fn, void* ctx);
    void worker_loop(int tid);
    friend void reset_pool_after_fork();

    std::mutex run_mutex_;  // one job at a time
    std::mutex wake_mutex_;
    std::condition_variable wake_cv_;
    std::vector<std::thread> workers_;
    int sleepers_ = 0;      // guarded by wake_mutex_
    bool stop_ = false;     // guarded by wake_mutex_
    std::atomic<uint64_t> epoch_{0};   // job number, bumped to post a job
    std::atomic<uint64_t> closed_{0};  // last job whose caller stopped waiting for latecomers
    std::atomic<int> active_{0};       // workers inside the current job
    JobFn fn_ = nullptr;
    void* ctx_ = nullptr;
    std::atomic<int> nthreads_{1};  // read by idle workers while the next job is posted
    std::atomic<int64_t> solo_until_{0};  // steady_clock ticks: run single-threaded until then
    std::atomic<int64_t> last_small_call_{0};  // steady_clock ticks
};

void cpu_relax();  // a pause instruction where there is one

template <class Done>
bool wait_until(const Done& done, std::chrono::nanoseconds spin, bool give_up) {
    using Clock = std::chrono::steady_clock;
    if (done()) return true;
    const auto start = Clock::now();
    for (;;) {
        for (int i = 0; i < 64; ++i) {
            if (done()) return true;
            cpu_relax();
        }
        if (Clock::now() - start > spin) break;
    }
    if (give_up) return done();
    while (!done()) std::this_thread::yield();
    return true;
}

}  // namespace gatedrnn
