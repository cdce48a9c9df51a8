// LD_PRELOAD library: records which pages of a program's code run, one page at a time.
//
// The kernel maps file pages 64 KiB at a time ("fault-around"), so a process's RSS cannot
// tell which 4 KiB pages of code it used. This library takes every permission away from
// the main executable's code as the program loads; every first jump into (or read of) a
// page then faults, the handler records the page's link-time address in
// $FEDMQ_TEXT_TRACE_DIR/<pid>.pages and gives the page back its permissions. Only
// executables whose name ends with $FEDMQ_TEXT_TRACE_PROGRAM are traced. Each time the
// program hands its code pages back (madvise MADV_DONTNEED, see CleanPages: three times while
// starting, once as a graceful shutdown begins), a line "steady <monotonic ns>" is written and
// every page loses its permissions again; exiting writes "end <monotonic ns>". The phase that
// lasts longest is the program's steady work (an agent's rounds).
//
// Used by tools/hot-text/order-file only, to find the functions an agent runs; never shipped.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uintptr_t code_start, code_end, load_bias;
static int trace_fd = -1;
static struct sigaction previous;

static int find_main_code(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    (void)data;
    if (info->dlpi_name[0] != '\0') return 0;  // the main program comes first, unnamed
    load_bias = info->dlpi_addr;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type == PT_LOAD && (segment->p_flags & PF_X)) {
            uintptr_t start = (load_bias + segment->p_vaddr) & ~(uintptr_t)4095;
            uintptr_t end = (load_bias + segment->p_vaddr + segment->p_memsz + 4095) & ~(uintptr_t)4095;
            if (code_start == 0 || start < code_start) code_start = start;
            if (end > code_end) code_end = end;
        }
    }
    return 1;
}

/// Writes `value` in hex and a newline to the trace, with async-signal-safe calls only.
static void write_hex_line(uintptr_t value) {
    char line[2 * sizeof value + 1];
    size_t length = 0;
    do {
        line[sizeof line - 2 - length] = "0123456789abcdef"[value & 15];
        value >>= 4;
        length++;
    } while (value != 0);
    line[sizeof line - 1] = '\n';
    if (write(trace_fd, line + sizeof line - 1 - length, length + 1) < 0) {
        // Nothing to do in a signal handler: the page is missing from the trace.
    }
}

static void on_fault(int signal, siginfo_t *info, void *context) {
    uintptr_t address = (uintptr_t)info->si_addr;
    if (address >= code_start && address < code_end) {
        uintptr_t page = address & ~(uintptr_t)4095;
        if (mprotect((void *)page, 4096, PROT_READ | PROT_EXEC) == 0) {
            write_hex_line(page - load_bias);
            return;
        }
    }
    // Not ours: behave as if this library were not there.
    sigaction(signal, &previous, NULL);
    if (previous.sa_flags & SA_SIGINFO) {
        if (previous.sa_sigaction) previous.sa_sigaction(signal, info, context);
    } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(signal);
    }
}

/// Writes `label`, a space and the monotonic clock in nanoseconds as one line.
static void write_time_line(const char *label) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    char line[64];
    int length = snprintf(line, sizeof line, "%s %lld\n", label, (long long)now.tv_sec * 1000000000LL + now.tv_nsec);
    if (length > 0 && write(trace_fd, line, (size_t)length) < 0) {
        // The marker is missing from the trace: order-file then sees fewer phases.
    }
}

/// The program hands its code pages back (CleanPages): a new phase begins. Mark it in the
/// trace and take the permissions away again, so the trace names the pages each phase runs.
/// order-file puts the longest phase's first.
int madvise(void *address, size_t length, int advice) {
    static int (*next)(void *, size_t, int);
    if (!next) next = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "madvise");
    int result = next(address, length, advice);
    uintptr_t start = (uintptr_t)address;
    if (trace_fd >= 0 && advice == MADV_DONTNEED && start < code_end && start + length > code_start) {
        write_time_line("steady");
        mprotect((void *)code_start, code_end - code_start, PROT_NONE);
    }
    return result;
}

/// The daemons end with `_exit` (no destructors run), errors with `exit`: both close the last phase.
void _exit(int status) {
    static void (*next)(int);
    if (!next) next = (void (*)(int))dlsym(RTLD_NEXT, "_exit");
    if (trace_fd >= 0) write_time_line("end");
    next(status);
    __builtin_unreachable();
}

void exit(int status) {
    static void (*next)(int);
    if (!next) next = (void (*)(int))dlsym(RTLD_NEXT, "exit");
    if (trace_fd >= 0) write_time_line("end");
    next(status);
    __builtin_unreachable();
}

__attribute__((constructor)) static void start_tracing(void) {
    const char *directory = getenv("FEDMQ_TEXT_TRACE_DIR");
    const char *program = getenv("FEDMQ_TEXT_TRACE_PROGRAM");
    if (!directory || !program) return;
    char executable[4096];
    ssize_t length = readlink("/proc/self/exe", executable, sizeof executable - 1);
    if (length <= 0) return;
    executable[length] = '\0';
    size_t suffix = strlen(program);
    if ((size_t)length < suffix || strcmp(executable + length - suffix, program) != 0) return;
    dl_iterate_phdr(find_main_code, NULL);
    if (code_start == 0) return;
    char path[4200];
    snprintf(path, sizeof path, "%s/%d.pages", directory, (int)getpid());
    trace_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (trace_fd < 0) return;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_fault;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    sigaction(SIGSEGV, &action, &previous);
    mprotect((void *)code_start, code_end - code_start, PROT_NONE);
}
