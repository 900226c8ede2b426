// Counts heap allocations for `mirrorgan bench` (docs/PERFORMANCE.md, "allocations per request"):
//   cc -O2 -shared -fPIC bench/alloccount.c -o .build/alloccount.so
//   LD_PRELOAD=.build/alloccount.so .build/release/mirrorgan bench ...
// Every malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign is counted and forwarded to
// glibc's own implementation; `mirrorgan bench` finds mirrorgan_alloc_count with dlsym and reports the
// count per request in steady state. Not linked into the product.
//
// With MIRRORGAN_ALLOC_TRACE=1 in the environment, `mirrorgan bench` also calls mirrorgan_alloc_trace(1)
// around its last iteration, and every allocation made then prints its call stack to stderr
// (`backtrace_symbols_fd`): the way to find what still allocates in a request.
#define _GNU_SOURCE
#include <errno.h>
#include <execinfo.h>
#include <stdatomic.h>
#include <stddef.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);

static atomic_ulong allocations;

unsigned long mirrorgan_alloc_count(void) { return atomic_load_explicit(&allocations, memory_order_relaxed); }

static atomic_int tracing;
static _Thread_local int inTrace;

void mirrorgan_alloc_trace(int on) { atomic_store(&tracing, on); }

static inline void count(void) {
    atomic_fetch_add_explicit(&allocations, 1, memory_order_relaxed);
    if (atomic_load_explicit(&tracing, memory_order_relaxed) && !inTrace) {
        inTrace = 1;  // backtrace itself may allocate the first time
        void *frames[24];
        int n = backtrace(frames, 24);
        static const char header[] = "--- allocation\n";
        (void)!write(2, header, sizeof header - 1);
        backtrace_symbols_fd(frames, n, 2);
        inTrace = 0;
    }
}

void *malloc(size_t size) { count(); return __libc_malloc(size); }
void *calloc(size_t n, size_t size) { count(); return __libc_calloc(n, size); }
void *realloc(void *p, size_t size) { count(); return __libc_realloc(p, size); }
void *memalign(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }
void *aligned_alloc(size_t alignment, size_t size) { count(); return __libc_memalign(alignment, size); }
int posix_memalign(void **out, size_t alignment, size_t size) {
    count();
    if (alignment % sizeof(void *) != 0 || (alignment & (alignment - 1)) != 0) return EINVAL;
    void *p = __libc_memalign(alignment, size);
    if (p == NULL && size != 0) return ENOMEM;
    *out = p;
    return 0;
}
