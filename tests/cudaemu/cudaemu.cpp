// cudaemu.cpp - a CUDA device on the host for tests/cudaemu: the runtime API calls the
// backend makes, cuBLAS and cuBLASLt's products, and the grid of a kernel launch run as
// fibers (one per CUDA thread, a block at a time) on the calling thread.
//
// What it checks that the hardware would: launch limits (threads a block, grid sizes,
// dynamic shared memory against cudaFuncSetAttribute's opt-in and the card's), copies
// whose kind disagrees with where their pointers are, a kernel handed a host pointer, host
// code touching device memory (a fault), a copy past or a free of an unknown device block,
// a barrier some threads never reach.
// Each stream is a queue whose work runs at once or as late as the program's
// synchronization allows (ZT_EMU_DEFER), so that a missing wait shows. What it cannot:
// timing, the memory model, and the PTX itself (the kernels' inline asm is replaced).
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <deque>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <vector>

#include "cudaemu.h"

#include "backends/cuda/cuda.h"
#include "ptx_ref.h"

uint3 threadIdx, blockIdx;
dim3 blockDim, gridDim;

namespace {

[[noreturn]] void die(const char *what) {
    fprintf(stderr, "cudaemu: %s\n", what);
    abort();
}

// ---- the card ---------------------------------------------------------------------------
// An A100 unless the environment says otherwise: ZT_EMU_CC=8.6, ZT_EMU_SMEM_OPTIN=101376
// make an RTX 30; ZT_EMU_MEMORY=bytes its memory.
struct card {
    int major = 8, minor = 0, sms = 108, smem_optin = 166912;
    size_t memory = (size_t)16 << 30;
    card() {
        const char *cc = getenv("ZT_EMU_CC");
        if (cc && sscanf(cc, "%d.%d", &major, &minor) != 2) die("ZT_EMU_CC is not MAJOR.MINOR");
        const char *s = getenv("ZT_EMU_SMEM_OPTIN");
        if (s) smem_optin = atoi(s);
        const char *m = getenv("ZT_EMU_MEMORY");
        if (m) memory = (size_t)strtoull(m, NULL, 10);
    }
};
card &the_card() {
    static card c;
    return c;
}

std::recursive_mutex big_lock; // one CUDA call at a time, as one device queue
cudaError_t last_error = cudaSuccess;

cudaError_t fail(cudaError_t e) {
    last_error = e;
    return e;
}

// ---- memory -------------------------------------------------------------------------------
std::map<uintptr_t, size_t> device_blocks, host_blocks; // start -> bytes
size_t device_used = 0;

// The block of map holding [p, p + bytes), or false.
bool inside(const std::map<uintptr_t, size_t> &map, const void *p, size_t bytes) {
    uintptr_t u = (uintptr_t)p;
    auto it = map.upper_bound(u);
    if (it == map.begin()) return false;
    --it;
    return u >= it->first && u + bytes <= it->first + it->second;
}
bool on_device(const void *p, size_t bytes) {
    return inside(device_blocks, p, bytes ? bytes : 1);
}

// Device memory is one mapping that the host cannot touch (PROT_NONE) but while the card
// works (a queued item runs, or cudaMalloc fills a block): host code that reads or writes
// through a device pointer faults, as it would with a real card's memory.
char *region;
size_t region_top;                    // what has ever been handed out, in whole pages
std::map<size_t, size_t> free_ranges; // offset -> bytes
int access_depth;

struct device_access {
    device_access() {
        if (access_depth++ == 0 && region_top) mprotect(region, region_top, PROT_READ | PROT_WRITE);
    }
    ~device_access() {
        if (--access_depth == 0 && region_top) mprotect(region, region_top, PROT_NONE);
    }
};

// A fault in the card's memory: say so (the default action's "Segmentation fault" does not).
void on_fault(int sig, siginfo_t *si, void *) {
    char *a = (char *)si->si_addr;
    if (region && a >= region && a < region + the_card().memory) {
        static const char msg[] = "cudaemu: host code touched device memory\n";
        (void)!write(2, msg, sizeof msg - 1);
    }
    signal(sig, SIG_DFL); // and fault again, as the program would have
}

void *region_alloc(size_t want) {
    if (!region) {
        struct sigaction sa = {};
        sa.sa_sigaction = on_fault;
        sa.sa_flags = SA_SIGINFO | SA_RESETHAND;
        sigaction(SIGSEGV, &sa, NULL);
        region = (char *)mmap(NULL, the_card().memory, PROT_NONE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (region == MAP_FAILED) die("cannot map the card's memory");
        free_ranges[0] = the_card().memory;
    }
    for (auto it = free_ranges.begin(); it != free_ranges.end(); ++it) {
        if (it->second < want) continue;
        size_t off = it->first, left = it->second - want;
        free_ranges.erase(it);
        if (left) free_ranges[off + want] = left;
        size_t top = (off + want + 4095) & ~(size_t)4095;
        if (top > region_top) {
            if (access_depth)
                mprotect(region + region_top, top - region_top, PROT_READ | PROT_WRITE);
            region_top = top;
        }
        return region + off;
    }
    return NULL;
}

void region_free(void *p, size_t want) {
    size_t off = (size_t)((char *)p - region);
    auto next = free_ranges.lower_bound(off);
    if (next != free_ranges.end() && next->first == off + want) { // join the range after
        want += next->second;
        next = free_ranges.erase(next);
    }
    if (next != free_ranges.begin()) { // and the one before
        auto prev = std::prev(next);
        if (prev->first + prev->second == off) {
            prev->second += want;
            return;
        }
    }
    free_ranges[off] = want;
}

// ---- fibers ---------------------------------------------------------------------------------
// A context switch of our own (x86-64 System V): callee-saved registers, MXCSR and the x87
// control word on the old stack, the stack pointer swapped. glibc's swapcontext makes a
// system call each switch, and a launch switches once or more per thread.
extern "C" void zt_emu_switch(void **save_sp, void *next_sp);
asm(R"(
    .text
    .globl zt_emu_switch
    .type zt_emu_switch, @function
zt_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size zt_emu_switch, .-zt_emu_switch
    .section .note.GNU-stack,"",@progbits
    .text
)");

constexpr size_t STACK = 256 << 10; // a fiber's: the kernels' locals are a few KB
constexpr int MAX_THREADS = 1024;

struct copy {
    void *dst;
    const void *src;
    int bytes, size;
};
struct barrier {
    unsigned count = 0, gen = 0;
};
struct fiber {
    void *sp;
    const barrier *waiting; // the barrier it waits at (not resumed until it opens), or NULL
    unsigned wait_gen;
    unsigned tid;
    bool done;
    std::vector<copy> open;                // cp.async since the last commit
    std::vector<std::vector<copy>> groups; // committed, not yet landed
    unsigned issued;
};

char *stacks;
fiber fibers[MAX_THREADS];
fiber *cur;
void *sched_sp;
unsigned block_threads, block_live, warp_live[MAX_THREADS / 32];
barrier block_bar, warp_bar[MAX_THREADS / 32];
uint64_t board[MAX_THREADS / 32][32][8]; // what each lane of a warp shows the others
// A warp's mma operands, assembled once a meeting by the first lane to read them.
struct {
    unsigned gen; // the warp barrier's generation they were assembled at
    float A[16][16], B[16][8];
} mma_ops[MAX_THREADS / 32];
zt_emu_kernel *run_kernel;
uint64_t block_serial; // blocks run so far
std::vector<unsigned char> dyn_smem;

// The next thread of the block, after cur in turn, that can run: not finished and not
// waiting at a barrier that is still shut. NULL: none.
bool reversed() { // ZT_EMU_ORDER=reverse: threads and blocks in the other order
    static int r = -1;
    if (r < 0) {
        const char *e = getenv("ZT_EMU_ORDER");
        r = e && !strcmp(e, "reverse");
    }
    return r;
}

fiber *next_runnable() {
    unsigned n = block_threads, t = cur->tid;
    for (unsigned i = 1; i <= n; i++) {
        fiber *f = &fibers[reversed() ? (t + n - i) % n : (t + i) % n];
        if (!f->done && !(f->waiting && f->waiting->gen == f->wait_gen)) return f;
    }
    return NULL;
}

void enter(fiber *f, void **save_sp) {
    cur = f;
    threadIdx.x = f->tid % blockDim.x;
    threadIdx.y = f->tid / blockDim.x % blockDim.y;
    threadIdx.z = f->tid / (blockDim.x * blockDim.y);
    zt_emu_switch(save_sp, f->sp);
}

// cur waits: straight on to the next thread that can run (each barrier arrival costs one
// switch); the block is back with run_block when all its threads have finished.
void yield() {
    fiber *me = cur, *next = next_runnable();
    if (!next) die("a barrier that some threads never reach");
    enter(next, &me->sp);
}

void release(barrier &b, unsigned live) {
    if (b.count && b.count >= live) {
        b.count = 0;
        b.gen++;
    }
}

void wait(barrier &b, const unsigned &live) {
    unsigned gen = b.gen;
    b.count++;
    release(b, live);
    if (b.gen != gen) return;
    cur->waiting = &b;
    cur->wait_gen = gen;
    yield(); // resumed once b has opened
    cur->waiting = NULL;
}

void land(const copy &c) {
    memcpy(c.dst, c.src, (size_t)c.bytes);
    memset((char *)c.dst + c.bytes, 0, (size_t)(c.size - c.bytes));
}

void fiber_main() {
    run_kernel->thread();
    if (!cur->open.empty() || !cur->groups.empty())
        die("a thread ended with cp.async copies not waited for");
    cur->done = true;
    block_live--;
    unsigned w = cur->tid / 32;
    warp_live[w]--;
    release(block_bar, block_live); // threads that exit count as arrived, as on the card
    release(warp_bar[w], warp_live[w]);
    void *dead;
    if (block_live == 0) zt_emu_switch(&dead, sched_sp);
    yield();
    die("a finished fiber resumed");
}

void *fiber_stack(fiber &f) {
    char *top = stacks + (size_t)(&f - fibers + 1) * STACK;
    void **sp = (void **)((uintptr_t)top & ~(uintptr_t)15);
    *--sp = NULL;                // fiber_main's return address: it never returns
    *--sp = (void *)&fiber_main; // where zt_emu_switch's ret goes
    for (int i = 0; i < 6; i++) *--sp = NULL;
    uint64_t ctl = 0x1f80u | (uint64_t)0x037fu << 32; // MXCSR and x87 defaults
    *--sp = (void *)ctl;
    return sp;
}

void run_block() {
    unsigned n = block_threads;
    for (unsigned t = 0; t < n; t++) {
        fiber &f = fibers[t];
        f.tid = t;
        f.done = false;
        f.issued = 0;
        f.waiting = NULL;
        f.sp = fiber_stack(f);
    }
    block_live = n;
    block_bar = barrier();
    for (unsigned w = 0; w < (n + 31) / 32; w++) {
        warp_live[w] = n - 32 * w < 32 ? n - 32 * w : 32;
        warp_bar[w] = barrier();
        mma_ops[w].gen = ~0u;
    }
    block_serial++;
    enter(&fibers[reversed() ? n - 1 : 0], &sched_sp); // back when the last has finished
    cur = NULL;
}

// ---- kernels' registry: cudaFuncSetAttribute's opt-in per kernel ----------------------------
std::map<const void *, int> smem_optin;

} // namespace

// ---- device builtins ------------------------------------------------------------------------
void __syncthreads() {
    wait(block_bar, block_live);
}
void __syncwarp(unsigned mask) {
    if (mask != 0xffffffffu) die("__syncwarp with a partial mask (not emulated)");
    unsigned w = cur->tid / 32;
    wait(warp_bar[w], warp_live[w]);
}
void __trap() {
    die("a kernel trapped");
}
void zt_emu_bounds(int max_threads, int) {
    if (block_threads > (unsigned)max_threads) die("a launch past the kernel's __launch_bounds__");
}
static std::map<void *, uint64_t>
    shared_fresh; // a static shared array: the block it was filled for
void zt_emu_shared_fresh(void *p, size_t bytes) {
    uint64_t &b = shared_fresh[p];
    if (b == block_serial + 1) return;
    memset(p, 0xff, bytes);
    b = block_serial + 1;
}
void *zt_emu_dyn_smem() {
    return dyn_smem.data();
}
int zt_emu_lane() {
    return (int)(cur->tid & 31);
}

// Lane posts (up to 64 bytes), the warp meets, reads, and meets again before the posts
// change. The kernels' collectives name the full warp: each of its 32 lanes must be there.
static void post(const void *p, size_t n) {
    if (warp_live[cur->tid / 32] != 32)
        die("a warp-wide operation in a warp with exited or absent lanes");
    memcpy(board[cur->tid / 32][cur->tid & 31], p, n);
    __syncwarp();
}
static const void *posted(int lane) {
    return board[cur->tid / 32][lane & 31];
}

uint64_t zt_emu_exchange(unsigned mask, uint64_t mine, int src_lane) {
    if (mask != 0xffffffffu) die("a shuffle with a partial mask (not emulated)");
    post(&mine, sizeof mine);
    uint64_t r;
    memcpy(&r, posted(src_lane), sizeof r);
    __syncwarp();
    return r;
}
int __any_sync(unsigned mask, int pred) {
    if (mask != 0xffffffffu) die("__any_sync with a partial mask (not emulated)");
    uint64_t mine = pred != 0;
    post(&mine, sizeof mine);
    int any = 0;
    for (int l = 0; l < 32; l++) any |= *(const uint64_t *)posted(l) != 0;
    __syncwarp();
    return any;
}

static bool in_shared(const void *p, size_t n) {
    const unsigned char *c = (const unsigned char *)p, *s = dyn_smem.data();
    return c >= s && c + n <= s + dyn_smem.size() - 16;
}

void zt_emu_cp_async(void *dst, const void *src, int bytes, int size) {
    if (bytes > 0 && !on_device(src, (size_t)bytes)) die("cp.async from outside device memory");
    if ((uintptr_t)dst % size || (uintptr_t)src % size) die("cp.async misaligned");
    if (!in_shared(dst, (size_t)size)) die("cp.async to outside the dynamic shared memory");
    copy c = {dst, src, bytes, size};
    if (cur->issued++ % 2)
        land(c);
    else
        cur->open.push_back(c);
}
void zt_emu_cp_async_commit() {
    cur->groups.push_back(cur->open);
    cur->open.clear();
}
void zt_emu_cp_async_wait(int n) {
    while (cur->groups.size() > (size_t)n) {
        for (const copy &c : cur->groups.front()) land(c);
        cur->groups.erase(cur->groups.begin());
    }
}

void zt_emu_ldmatrix_x4(uint32_t (&r)[4], const void *p, int trans) {
    if ((uintptr_t)p % 16) die("ldmatrix row address misaligned");
    if (!in_shared(p, 16)) die("ldmatrix from outside the dynamic shared memory");
    post(&p, sizeof p);
    for (int i = 0; i < 4; i++) {
        const uint16_t *rows[8];
        for (int k = 0; k < 8; k++) memcpy(&rows[k], posted(8 * i + k), sizeof rows[k]);
        r[i] = ptx_ldmatrix(rows, zt_emu_lane(), trans);
    }
    __syncwarp();
}

template <class F>
static void mma_meet(const uint32_t (&a)[4], uint32_t b0, uint32_t b1, F assemble) {
    uint32_t mine[6] = {a[0], a[1], a[2], a[3], b0, b1};
    post(mine, sizeof mine);
    unsigned w = cur->tid / 32;
    if (mma_ops[w].gen != warp_bar[w].gen) {
        uint32_t ra[32][4], rb[32][2];
        for (int l = 0; l < 32; l++) {
            uint32_t r[6];
            memcpy(r, posted(l), sizeof r);
            for (int k = 0; k < 4; k++) ra[l][k] = r[k];
            rb[l][0] = r[4];
            rb[l][1] = r[5];
        }
        assemble(ra, rb, mma_ops[w].A, mma_ops[w].B);
        mma_ops[w].gen = warp_bar[w].gen;
    }
}
void zt_emu_mma_bf16(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    mma_meet(a, b0, b1,
             [](uint32_t ra[32][4], uint32_t rb[32][2], float A[16][16], float B[16][8]) {
                 ptx_mma16_operands(ra, rb, A, B);
             });
    unsigned w = cur->tid / 32;
    ptx_mma16_lane(c, zt_emu_lane(), mma_ops[w].A, mma_ops[w].B);
    __syncwarp();
}
void zt_emu_mma_tf32(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
    // m16n8k8: A [16][8] and B [8][8] in the first rows and columns of the warp's arrays
    mma_meet(a, b0, b1,
             [](uint32_t ra[32][4], uint32_t rb[32][2], float A[16][16], float B[16][8]) {
                 float fa[32][4], fb[32][2], a8[16][8], b8[8][8];
                 for (int l = 0; l < 32; l++) {
                     for (int k = 0; k < 4; k++)
                         if (ra[l][k] & 0x1fffu) die("an mma .tf32 operand that is not tf32");
                     if ((rb[l][0] | rb[l][1]) & 0x1fffu)
                         die("an mma .tf32 operand that is not tf32");
                     for (int k = 0; k < 4; k++) memcpy(&fa[l][k], &ra[l][k], 4);
                     memcpy(&fb[l][0], &rb[l][0], 4);
                     memcpy(&fb[l][1], &rb[l][1], 4);
                 }
                 ptx_mma_operands(fa, fb, a8, b8);
                 memcpy(A, a8, sizeof a8); // A read as [16][8] below
                 memcpy(B, b8, sizeof b8);
             });
    unsigned w = cur->tid / 32;
    ptx_mma_lane_k(c, zt_emu_lane(), &mma_ops[w].A[0][0], &mma_ops[w].B[0][0], 8);
    __syncwarp();
}
uint32_t zt_emu_tf32(float v) {
    float t = ptx_tf32(v);
    uint32_t u;
    memcpy(&u, &t, 4);
    return u;
}

namespace {

// ---- streams and events ------------------------------------------------------------------
// Each stream is a queue, run in order. When work runs is ZT_EMU_DEFER's choice, within
// what the program's synchronization allows:
//   (unset)  each item at once (after its stream's earlier ones);
//   kernels  kernels, cuBLAS, device copies, memsets and event waits when something
//            needs them; copies between host and device at once: a copy that should
//            have waited for queued kernels overtakes them;
//   all      everything when something needs it: a stream or event synchronized, a
//            stream's wait reached, a copy to pageable host memory, cudaFree. Copies
//            from pinned memory read it then, so a buffer reused too soon shows.
// A copy from pageable host memory takes its bytes when queued, as the runtime stages it.
struct stream_t;
struct item {
    std::function<void()> op;
    stream_t *wait_on; // a wait: run wait_on's items up to wait_seq first
    uint64_t wait_seq;
};
struct stream_t {
    std::deque<item> q;
    uint64_t queued = 0, done = 0;
};
struct event_t {
    stream_t *s = nullptr; // the stream of the last record (NULL: none, or complete)
    uint64_t seq = 0;      // and its position there
};
stream_t legacy; // stream 0
std::set<stream_t *> streams;
std::set<event_t *> events;

int defer_mode() {
    static int mode = -1;
    if (mode < 0) {
        const char *e = getenv("ZT_EMU_DEFER");
        mode = !e || !*e ? 0 : !strcmp(e, "kernels") ? 1 : !strcmp(e, "all") ? 2 : -2;
        if (mode == -2) die("ZT_EMU_DEFER is not kernels or all");
    }
    return mode;
}

stream_t *stream_of(cudaStream_t h) {
    if (!h) return &legacy;
    return streams.count((stream_t *)h) ? (stream_t *)h : nullptr;
}

void drain(stream_t *s, uint64_t upto) {
    device_access on;
    static int depth;
    if (++depth > 64) die("streams that wait for each other");
    while (s->done < upto) {
        item it = std::move(s->q.front());
        s->q.pop_front();
        if (it.wait_on)
            drain(it.wait_on, it.wait_seq);
        else
            it.op();
        s->done++;
    }
    depth--;
}
void drain_all() {
    for (stream_t *s : streams) drain(s, s->queued);
    drain(&legacy, legacy.queued);
}

void push(stream_t *s, item it, bool kernel_like) {
    s->q.push_back(std::move(it));
    s->queued++;
    int mode = defer_mode();
    if (mode == 0 || (mode == 1 && !kernel_like)) drain(s, s->queued);
}

} // namespace

std::recursive_mutex &zt_emu_lock() {
    return big_lock;
}

// ---- launches -----------------------------------------------------------------------------
void zt_emu_check_arg(const void *kernel, int index, const void *p) {
    if (index < 0) {
        char msg[128];
        snprintf(msg, sizeof msg, "a kernel's argument %d is misaligned (%p)", -1 - index, p);
        die(msg);
    }
    if (p && !on_device(p, 1)) {
        char msg[128];
        snprintf(msg, sizeof msg, "a kernel's argument %d is not in device memory (%p)", index, p);
        die(msg);
    }
}

static void run_grid(const zt_emu_grid &g, zt_emu_kernel *k) {
    if (!stacks) {
        stacks = (char *)mmap(NULL, STACK * MAX_THREADS, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (stacks == MAP_FAILED) die("cannot map the fibers' stacks");
        for (int t = 0; t < MAX_THREADS; t++) // a guard page below each: overflow faults
            mprotect(stacks + (size_t)t * STACK, 4096, PROT_NONE);
    }
    gridDim = g.grid;
    blockDim = g.block;
    block_threads = g.block.x * g.block.y * g.block.z;
    run_kernel = k;
    dyn_smem.assign(g.smem + 16, 0xff); // NaN: a read of a place no load wrote shows
    uint64_t blocks = (uint64_t)g.grid.x * g.grid.y * g.grid.z;
    for (uint64_t i = 0; i < blocks; i++) {
        uint64_t b = reversed() ? blocks - 1 - i : i;
        blockIdx.x = (unsigned)(b % g.grid.x);
        blockIdx.y = (unsigned)(b / g.grid.x % g.grid.y);
        blockIdx.z = (unsigned)(b / ((uint64_t)g.grid.x * g.grid.y));
        memset(dyn_smem.data(), 0xff, dyn_smem.size());
        run_block();
    }
}

void zt_emu_run(const zt_emu_grid &g, const void *kernel, zt_emu_kernel *k) {
    std::shared_ptr<zt_emu_kernel> owned(k);
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    stream_t *s = stream_of(g.stream);
    if (!s) {
        fail(cudaErrorInvalidResourceHandle);
        return;
    }
    unsigned threads = g.block.x * g.block.y * g.block.z;
    auto it = smem_optin.find(kernel);
    size_t smem_max = it != smem_optin.end() ? (size_t)it->second : 48 << 10;
    if (threads == 0 || threads > MAX_THREADS || g.block.z > 64 || g.grid.x == 0 || g.grid.y == 0 ||
        g.grid.z == 0 || g.grid.y > 65535 || g.grid.z > 65535 || g.grid.x > 0x7fffffffu) {
        fail(cudaErrorInvalidConfiguration);
        return;
    }
    if (g.smem > smem_max || g.smem > (size_t)the_card().smem_optin) {
        fail(cudaErrorInvalidValue);
        return;
    }
    zt_emu_grid gg = g;
    push(s, {[gg, owned] { run_grid(gg, owned.get()); }, nullptr, 0}, true);
}

void zt_emu_enqueue(cudaStream_t h, std::function<void()> op, bool kernel_like) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    stream_t *s = stream_of(h);
    if (!s) die("work queued on a stream that does not exist");
    push(s, {std::move(op), nullptr, 0}, kernel_like);
}

// ---- the runtime API ----------------------------------------------------------------------
extern "C" {

cudaError_t cudaGetDeviceCount(int *count) {
    *count = 1;
    return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) {
    return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice);
}
cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device) {
    const card &c = the_card();
    if (device != 0) return fail(cudaErrorInvalidDevice);
    switch (attr) {
    case cudaDevAttrMultiProcessorCount:
        *value = c.sms;
        break;
    case cudaDevAttrComputeCapabilityMajor:
        *value = c.major;
        break;
    case cudaDevAttrComputeCapabilityMinor:
        *value = c.minor;
        break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin:
        *value = c.smem_optin;
        break;
    default:
        return fail(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}
const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess:
        return "no error";
    case cudaErrorInvalidValue:
        return "invalid argument (emulated)";
    case cudaErrorMemoryAllocation:
        return "out of memory (emulated)";
    case cudaErrorInvalidConfiguration:
        return "invalid configuration argument (emulated)";
    case cudaErrorInvalidDevice:
        return "invalid device ordinal (emulated)";
    case cudaErrorInvalidResourceHandle:
        return "invalid resource handle (emulated)";
    default:
        return "error (emulated)";
    }
}
cudaError_t cudaGetLastError(void) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}
cudaError_t cudaDeviceSynchronize(void) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    drain_all();
    return cudaSuccess;
}

cudaError_t cudaMalloc(void **p, size_t bytes) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    *p = NULL;
    size_t want = (bytes + 255) & ~(size_t)255;
    if (want == 0 || device_used + want > the_card().memory) return fail(cudaErrorMemoryAllocation);
    void *q = region_alloc(want);
    if (!q) return fail(cudaErrorMemoryAllocation);
    {
        device_access on;
        memset(q, 0xff, want); // whatever was there: NaN, so that a read nothing wrote shows
    }
    device_blocks[(uintptr_t)q] = bytes;
    device_used += want;
    *p = q;
    return cudaSuccess;
}
cudaError_t cudaFree(void *p) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    if (!p) return cudaSuccess;
    auto it = device_blocks.find((uintptr_t)p);
    if (it == device_blocks.end()) die("cudaFree of a pointer cudaMalloc did not return");
    drain_all(); // cudaFree waits for the device
    size_t want = (it->second + 255) & ~(size_t)255;
    device_used -= want;
    device_blocks.erase(it);
    region_free(p, want);
    return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    *total = the_card().memory;
    *free_bytes = *total - device_used;
    return cudaSuccess;
}
cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned int flags) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    *p = malloc(bytes ? bytes : 1);
    if (!*p) return fail(cudaErrorMemoryAllocation);
    host_blocks[(uintptr_t)*p] = bytes;
    return cudaSuccess;
}
cudaError_t cudaFreeHost(void *p) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    if (!p) return cudaSuccess;
    if (!host_blocks.erase((uintptr_t)p))
        die("cudaFreeHost of a pointer cudaHostAlloc did not return");
    drain_all();
    free(p);
    return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind,
                            cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    stream_t *s = stream_of(stream);
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    if (n == 0) return cudaSuccess;
    bool dd = on_device(dst, n), sd = on_device(src, n);
    bool ok = kind == cudaMemcpyHostToDevice     ? dd && !on_device(src, 1)
              : kind == cudaMemcpyDeviceToHost   ? sd && !on_device(dst, 1)
              : kind == cudaMemcpyDeviceToDevice ? dd && sd
              : kind == cudaMemcpyDefault        ? true
                                                 : !on_device(dst, 1) && !on_device(src, 1);
    if (!ok) {
        fprintf(stderr, "cudaemu: cudaMemcpy kind %d, %zu bytes: dst %s, src %s\n", (int)kind, n,
                dd                  ? "device"
                : on_device(dst, 1) ? "past a device block"
                                    : "host",
                sd                  ? "device"
                : on_device(src, 1) ? "past a device block"
                                    : "host");
        abort();
    }
    if ((const char *)dst < (const char *)src + n && (const char *)src < (const char *)dst + n)
        die("cudaMemcpy between overlapping ranges"); // undefined on the card
    bool pinned_src = inside(host_blocks, src, n), pinned_dst = inside(host_blocks, dst, n);
    if (!sd && !pinned_src) { // pageable: staged now
        std::shared_ptr<std::vector<char>> staged(
            new std::vector<char>((const char *)src, (const char *)src + n));
        push(s, {[dst, staged] { memcpy(dst, staged->data(), staged->size()); }, nullptr, 0},
             dd == false);
        return cudaSuccess;
    }
    push(s, {[dst, src, n] { memcpy(dst, src, n); }, nullptr, 0}, sd && dd);
    if (!dd && !pinned_dst) drain(s, s->queued); // to pageable memory: returns once done
    return cudaSuccess;
}
cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, enum cudaMemcpyKind kind) {
    cudaError_t e = cudaMemcpyAsync(dst, src, n, kind, 0);
    if (e == cudaSuccess) cudaDeviceSynchronize();
    return e;
}
cudaError_t cudaMemsetAsync(void *p, int value, size_t n, cudaStream_t stream) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    stream_t *s = stream_of(stream);
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    if (n && !on_device(p, n)) die("cudaMemset outside device memory");
    push(s, {[p, value, n] { memset(p, value, n); }, nullptr, 0}, true);
    return cudaSuccess;
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t *h, unsigned int flags) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    stream_t *s = new stream_t;
    streams.insert(s);
    *h = (cudaStream_t)s;
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t h) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    stream_t *s = stream_of(h);
    if (!s || s == &legacy) return fail(cudaErrorInvalidResourceHandle);
    drain(s, s->queued);        // its work still completes
    for (stream_t *o : streams) // waits queued on it are met
        for (item &it : o->q)
            if (it.wait_on == s) {
                it.wait_on = nullptr;
                it.op = [] {};
            }
    for (event_t *e : events)
        if (e->s == s) e->s = nullptr; // complete
    streams.erase(s);
    delete s;
    return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t h) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    stream_t *s = stream_of(h);
    if (!s) return fail(cudaErrorInvalidResourceHandle);
    drain(s, s->queued);
    return cudaSuccess;
}
static event_t *event_of(cudaEvent_t h) {
    return events.count((event_t *)h) ? (event_t *)h : nullptr;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *h, unsigned int flags) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    event_t *e = new event_t;
    events.insert(e);
    *h = (cudaEvent_t)e;
    return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t h) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    event_t *e = event_of(h);
    if (!e) return fail(cudaErrorInvalidResourceHandle);
    events.erase(e);
    delete e;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t h, cudaStream_t sh) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    event_t *e = event_of(h);
    stream_t *s = stream_of(sh);
    if (!e || !s) return fail(cudaErrorInvalidResourceHandle);
    e->s = s; // complete once s has run what is queued on it now
    e->seq = s->queued;
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t h) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    event_t *e = event_of(h);
    if (!e) return fail(cudaErrorInvalidResourceHandle);
    if (e->s) drain(e->s, e->seq);
    return cudaSuccess;
}
cudaError_t cudaStreamWaitEvent(cudaStream_t sh, cudaEvent_t h, unsigned int flags) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    event_t *e = event_of(h);
    stream_t *s = stream_of(sh);
    if (!e || !s) return fail(cudaErrorInvalidResourceHandle);
    if (e->s) push(s, {nullptr, e->s, e->seq}, true); // the record as it is now
    return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value) {
    std::lock_guard<std::recursive_mutex> lock(big_lock);
    if (attr != cudaFuncAttributeMaxDynamicSharedMemorySize) return fail(cudaErrorInvalidValue);
    if (value < 0 || value > the_card().smem_optin) return fail(cudaErrorInvalidValue);
    smem_optin[func] = value;
    return cudaSuccess;
}

// ---- kernels/attention_sm90.cu (not emulated: the card is never compute capability 9.0) ----
zt_status zt_cuda_flash_sm90_built(zt_backend *be, int *built) {
    *built = 0;
    return ZT_OK;
}
size_t zt_cuda_flash_sm90_tile(void) {
    return 128;
}
zt_status zt_cuda_flash_sm90(zt_backend *be, float *o, const void *qb, const void *kb,
                             const void *vb, const uint8_t *valid, int64_t B, int64_t H, int64_t Lq,
                             int64_t Lk, int64_t Lqp, int64_t Lkp, float scale) {
    return zt_fail(ZT_ERR_UNSUPPORTED, "cudaemu: no Hopper attention");
}

} // extern "C"
