/* Calls the kernel rejects: each must come back with the kernel's error,
 * recorded, instead of stopping the recording. */
#include "family.h"
#include <fcntl.h>
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void expect_error(const char *what, long rc, int want) {
  CHECK(rc == -1);
  if (errno != want) {
    fprintf(stderr, "FAIL %s: errno %d, expected %d\n", what, errno, want);
    exit(1);
  }
  printf("%s: %s\n", what, strerror(errno));
}

int main(void) {
  expect_error("syscall(-1)", syscall(-1L), ENOSYS);
  expect_error("syscall(1000)", syscall(1000L), ENOSYS);
  expect_error("fcntl 9999", fcntl(1, 9999), EINVAL);
  int word = 0;
  expect_error("futex op 0x63", syscall(SYS_futex, &word, 0x63, 0, 0, 0, 0), ENOSYS);
  int fd = open("/proc/self/stat", O_RDONLY);
  CHECK(fd >= 0);
  /* Through a volatile, so that the compiler does not see the bad address. */
  void *volatile bad = (void *)0x62;
  expect_error("read into 0x62", read(fd, bad, 16), EFAULT);
  expect_error("stat to 0x62", stat("/", bad), EFAULT);
  expect_error("clock_gettime to 0x62", syscall(SYS_clock_gettime, CLOCK_MONOTONIC, bad), EFAULT);
  printf("pid %d random %llx\n", getpid(), random_value());
  return 0;
}
