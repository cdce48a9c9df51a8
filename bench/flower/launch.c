// Runs a benchmarked process as a child of this small program and reports that child's own
// resource use: launch REPORT COMMAND [ARGUMENT...]
//
// Why not wait4 from the harness directly: Linux keeps a process's peak RSS (ru_maxrss) across
// exec, so a child that Python forks starts with Python's peak (about 16 MiB) and reports at
// least that. Forked from this program, the child's floor is this program's few hundred KiB.
//
// Writes the child's pid to REPORT.pid as soon as it runs, and "MAXRSS_KIB USER_S SYSTEM_S"
// to REPORT when it ends. Forwards SIGTERM, SIGINT and SIGHUP to the child and exits as it
// did (its code, or 128 plus its signal).
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static const int forwarded[] = {SIGTERM, SIGINT, SIGHUP};
static volatile sig_atomic_t child;

static void forward(int signal) {
    if (child > 0) kill((pid_t)child, signal);
}

static int write_file(const char *path, const char *text) {
    FILE *file = fopen(path, "w");
    if (!file) return -1;
    int failed = fputs(text, file) < 0;
    return fclose(file) != 0 || failed ? -1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: launch REPORT COMMAND [ARGUMENT...]\n");
        return 64;
    }
    // Signals wait until the child's pid is known.
    sigset_t blocked, previous;
    sigemptyset(&blocked);
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = forward;
    sigemptyset(&action.sa_mask);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) {
        sigaddset(&blocked, forwarded[i]);
        sigaction(forwarded[i], &action, NULL);
    }
    sigprocmask(SIG_BLOCK, &blocked, &previous);
    pid_t pid = fork();
    if (pid < 0) {
        perror("launch: fork");
        return 71;
    }
    if (pid == 0) {
        for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) signal(forwarded[i], SIG_DFL);
        sigprocmask(SIG_SETMASK, &previous, NULL);
        execvp(argv[2], argv + 2);
        fprintf(stderr, "launch: cannot run %s: %s\n", argv[2], strerror(errno));
        _exit(127);
    }
    child = pid;
    sigprocmask(SIG_SETMASK, &previous, NULL);
    char path[4096], text[128];
    snprintf(path, sizeof path, "%s.pid", argv[1]);
    snprintf(text, sizeof text, "%d\n", (int)pid);
    if (write_file(path, text) != 0) perror("launch: pid file");
    int status;
    struct rusage usage;
    while (wait4(pid, &status, 0, &usage) < 0) {
        if (errno != EINTR) {
            perror("launch: wait4");
            return 71;
        }
    }
    snprintf(text, sizeof text, "%ld %ld.%06ld %ld.%06ld\n", usage.ru_maxrss, (long)usage.ru_utime.tv_sec,
             (long)usage.ru_utime.tv_usec, (long)usage.ru_stime.tv_sec, (long)usage.ru_stime.tv_usec);
    if (write_file(argv[1], text) != 0) perror("launch: report");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
