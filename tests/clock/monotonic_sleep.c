/* Preloaded before Debian's libfaketime in the suite's shifted-clock run (tests/clock/__init__.py).

The suite shifts the wall clock only (FAKETIME_DONT_FAKE_MONOTONIC=1): faking the monotonic clock too
makes Python's timed waits (Event.wait, Queue.get, Lock.acquire with a timeout) hang, because glibc's
sem_clockwait on CLOCK_MONOTONIC is not intercepted. With the monotonic clock left real, libfaketime
0.9.10 still rewrites absolute CLOCK_MONOTONIC deadlines passed to clock_nanosleep by the wall-clock
offset, and Python's time.sleep() fails with EINVAL. This passes monotonic sleeps straight to the
kernel and every other clock on to libfaketime. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int clock_nanosleep(clockid_t clock_id, int flags, const struct timespec *request, struct timespec *remain) {
    if (clock_id == CLOCK_MONOTONIC || clock_id == CLOCK_BOOTTIME) {
        long r = syscall(SYS_clock_nanosleep, clock_id, flags, request, remain);
        return r == -1 ? errno : 0;
    }
    static int (*next)(clockid_t, int, const struct timespec *, struct timespec *);
    if (next == NULL) {
        next = (int (*)(clockid_t, int, const struct timespec *, struct timespec *))dlsym(RTLD_NEXT,
                                                                                           "clock_nanosleep");
    }
    return next(clock_id, flags, request, remain);
}
