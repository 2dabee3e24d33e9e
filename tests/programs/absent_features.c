/* Kernel features whose effects happen outside any syscall (io_uring's
 * rings, Linux AIO's completion ring, perf's sample buffers, userfaultfd's
 * faults, BPF objects): each is probed the way careful programs do, and
 * the program falls back to plain syscalls when the kernel lacks it. Under
 * the recorder every probe gets ENOSYS, as from a kernel built without the
 * feature; natively the feature may work. Either way the work is done. */
#include "family.h"
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/io_uring.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* _IO(0xAA, 0x00), from linux/userfaultfd.h of Linux 6.1 and later. */
#define USERFAULTFD_IOC_NEW_REQUEST 0xAA00

static void probe(const char *name, long ret) {
  if (ret >= 0) {
    printf("%s: available\n", name);
    close((int)ret);
  } else {
    printf("%s: %s\n", name, strerror(errno));
  }
}

int main(void) {
  struct io_uring_params params;
  memset(&params, 0, sizeof params);
  probe("io_uring_setup", syscall(__NR_io_uring_setup, 8, &params));

  aio_context_t ctx = 0;
  long aio = syscall(__NR_io_setup, 8, &ctx);
  printf("io_setup: %s\n", aio == 0 ? "available" : strerror(errno));
  if (aio == 0) syscall(__NR_io_destroy, ctx);

  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_TASK_CLOCK;
  probe("perf_event_open", syscall(__NR_perf_event_open, &attr, 0, -1, -1, 0));
  probe("userfaultfd", syscall(__NR_userfaultfd, O_CLOEXEC));
  /* The same through the device (Linux 6.1+), where the kernel has it. */
  int device = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
  if (device >= 0) {
    probe("USERFAULTFD_IOC_NEW", ioctl(device, USERFAULTFD_IOC_NEW_REQUEST, O_CLOEXEC));
    close(device);
  } else {
    printf("USERFAULTFD_IOC_NEW: no device\n");
  }

  /* The fallback: the same work through plain syscalls. */
  char path[] = "/tmp/replay-absent-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unlink(path);
  unsigned long long nonce = random_value();
  CHECK(pwrite(fd, &nonce, sizeof nonce, 0) == sizeof nonce);
  unsigned long long back = 0;
  CHECK(pread(fd, &back, sizeof back, 0) == sizeof back);
  CHECK(back == nonce);
  printf("fallback read %016llx\n", back);
  return 0;
}
