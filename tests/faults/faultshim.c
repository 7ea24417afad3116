/* An LD_PRELOAD shim that injects write faults into one program, for the
 * fault-injection tests (fault_test.cpp). Linux only.
 *
 * It counts the calls that put data or names on disk: write() to a file
 * descriptor above 2, copy_file_range(), fsync(), fdatasync(), rename(), renameat(),
 * renameat2(), link(), linkat(), symlink(), symlinkat() and open()/openat()
 * with O_CREAT. Environment:
 *
 *   SIFSTORE_FAULT_PROGRAM=name  only a process of this name (its
 *                                program_invocation_short_name) counts;
 *                                children it runs (a builder) are left alone
 *   SIFSTORE_FAULT_AT=N          the Nth counted call fails, without doing
 *                                anything, with
 *   SIFSTORE_FAULT_ERRNO=E       ENOSPC (the default), EIO, or a number
 *   SIFSTORE_FAULT_KILL_AT=K     the Kth unlink()/unlinkat() kills the process
 *                                with SIGKILL before it removes anything
 *                                (an interrupted prune)
 *   SIFSTORE_FAULT_LOG=file      each counted call is appended to file as
 *                                "<n> <call> <path>" (or "fd <fd> <its path>"),
 *                                with " FAIL" on the failing one, and at exit
 *                                "total <n> unlinks <k>"
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

static int active = -1; /* -1: not decided yet */
static long fault_at, kill_at, counted, unlinks;
static int fault_errno = ENOSPC;
static const char* log_path;

static ssize_t (*real_write)(int, const void*, size_t);

static void decide(void) {
  if (active >= 0) return;
  const char* program = getenv("SIFSTORE_FAULT_PROGRAM");
  active = !program || strcmp(program, program_invocation_short_name) == 0;
  const char* at = getenv("SIFSTORE_FAULT_AT");
  fault_at = at ? atol(at) : 0;
  const char* k = getenv("SIFSTORE_FAULT_KILL_AT");
  kill_at = k ? atol(k) : 0;
  const char* e = getenv("SIFSTORE_FAULT_ERRNO");
  if (e && strcmp(e, "EIO") == 0) fault_errno = EIO;
  else if (e && strcmp(e, "ENOSPC") != 0 && atoi(e) > 0) fault_errno = atoi(e);
  log_path = getenv("SIFSTORE_FAULT_LOG");
  real_write = (ssize_t(*)(int, const void*, size_t))dlsym(RTLD_NEXT, "write");
}

static void log_line(const char* line) {
  if (!log_path || !real_write) return;
  int (*real_open)(const char*, int, ...) = (int (*)(const char*, int, ...))dlsym(RTLD_NEXT, "open");
  int fd = real_open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  real_write(fd, line, strlen(line));
  close(fd);
}

/* Counts one call; returns nonzero when it must fail (errno is then set). */
static int fault(const char* call, const char* path, int fd) {
  decide();
  if (!active) return 0;
  ++counted;
  if (log_path) {
    char line[512];
    if (path)
      snprintf(line, sizeof line, "%ld %s %s%s\n", counted, call, path,
               counted == fault_at ? " FAIL" : "");
    else {
      char link[64], target[400];
      snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
      ssize_t len = readlink(link, target, sizeof target - 1);
      target[len > 0 ? len : 0] = 0;
      snprintf(line, sizeof line, "%ld %s fd %d %s%s\n", counted, call, fd, target,
               counted == fault_at ? " FAIL" : "");
    }
    log_line(line);
  }
  if (counted == fault_at) {
    errno = fault_errno;
    return 1;
  }
  return 0;
}

static void before_unlink(const char* path) {
  decide();
  if (!active) return;
  ++unlinks;
  if (log_path) {
    char line[512];
    snprintf(line, sizeof line, "unlink %ld %s\n", unlinks, path);
    log_line(line);
  }
  if (unlinks == kill_at) kill(getpid(), SIGKILL);
}

__attribute__((destructor)) static void report(void) {
  if (active != 1 || !log_path) return;
  char line[64];
  snprintf(line, sizeof line, "total %ld unlinks %ld\n", counted, unlinks);
  log_line(line);
}

#define REAL(ret, name, ...) \
  static ret (*real)(__VA_ARGS__); \
  if (!real) real = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)

ssize_t write(int fd, const void* buf, size_t n) {
  REAL(ssize_t, "write", int, const void*, size_t);
  if (fd > 2 && fault("write", NULL, fd)) return -1;
  return real(fd, buf, n);
}

ssize_t copy_file_range(int in, loff_t* in_off, int out, loff_t* out_off, size_t n,
                        unsigned flags) {
  REAL(ssize_t, "copy_file_range", int, loff_t*, int, loff_t*, size_t, unsigned);
  if (fault("copy_file_range", NULL, out)) return -1;
  return real(in, in_off, out, out_off, n, flags);
}

int fsync(int fd) {
  REAL(int, "fsync", int);
  if (fault("fsync", NULL, fd)) return -1;
  return real(fd);
}

int fdatasync(int fd) {
  REAL(int, "fdatasync", int);
  if (fault("fdatasync", NULL, fd)) return -1;
  return real(fd);
}

int rename(const char* from, const char* to) {
  REAL(int, "rename", const char*, const char*);
  if (fault("rename", to, -1)) return -1;
  return real(from, to);
}

int renameat(int fromfd, const char* from, int tofd, const char* to) {
  REAL(int, "renameat", int, const char*, int, const char*);
  if (fault("renameat", to, -1)) return -1;
  return real(fromfd, from, tofd, to);
}

int renameat2(int fromfd, const char* from, int tofd, const char* to, unsigned flags) {
  REAL(int, "renameat2", int, const char*, int, const char*, unsigned);
  if (fault("renameat2", to, -1)) return -1;
  return real(fromfd, from, tofd, to, flags);
}

int link(const char* from, const char* to) {
  REAL(int, "link", const char*, const char*);
  if (fault("link", to, -1)) return -1;
  return real(from, to);
}

int linkat(int fromfd, const char* from, int tofd, const char* to, int flags) {
  REAL(int, "linkat", int, const char*, int, const char*, int);
  if (fault("linkat", to, -1)) return -1;
  return real(fromfd, from, tofd, to, flags);
}

int symlink(const char* target, const char* name) {
  REAL(int, "symlink", const char*, const char*);
  if (fault("symlink", name, -1)) return -1;
  return real(target, name);
}

int symlinkat(const char* target, int dirfd, const char* name) {
  REAL(int, "symlinkat", const char*, int, const char*);
  if (fault("symlinkat", name, -1)) return -1;
  return real(target, dirfd, name);
}

static mode_t mode_arg(int flags, va_list ap) {
  return (flags & (O_CREAT | __O_TMPFILE)) ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char* path, int flags, ...) {
  REAL(int, "open", const char*, int, ...);
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  if ((flags & O_CREAT) && fault("open", path, -1)) return -1;
  return real(path, flags, mode);
}

int open64(const char* path, int flags, ...) {
  REAL(int, "open64", const char*, int, ...);
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  if ((flags & O_CREAT) && fault("open", path, -1)) return -1;
  return real(path, flags, mode);
}

int openat(int dirfd, const char* path, int flags, ...) {
  REAL(int, "openat", int, const char*, int, ...);
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  if ((flags & O_CREAT) && fault("openat", path, -1)) return -1;
  return real(dirfd, path, flags, mode);
}

int openat64(int dirfd, const char* path, int flags, ...) {
  REAL(int, "openat64", int, const char*, int, ...);
  va_list ap;
  va_start(ap, flags);
  mode_t mode = mode_arg(flags, ap);
  va_end(ap);
  if ((flags & O_CREAT) && fault("openat", path, -1)) return -1;
  return real(dirfd, path, flags, mode);
}

int unlink(const char* path) {
  REAL(int, "unlink", const char*);
  before_unlink(path);
  return real(path);
}

int unlinkat(int dirfd, const char* path, int flags) {
  REAL(int, "unlinkat", int, const char*, int);
  before_unlink(path);
  return real(dirfd, path, flags);
}
