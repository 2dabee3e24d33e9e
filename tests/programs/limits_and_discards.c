/* Memory calls whose effect depends on state replay does not re-create:
 * a brk and an mmap refused by limits the program set (RLIMIT_DATA,
 * RLIMIT_AS), which replay does not apply, and process_madvise discarding
 * the program's own pages (kernel 6.13 and later), which replay does not
 * run. Prints what each did and a random value. */
#define _GNU_SOURCE
#include "family.h"
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

static void in_child(void (*check)(void)) {
  fflush(stdout);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    check();
    fflush(stdout);
    _exit(0);
  }
  int status;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void data_limit(void) {
  struct rlimit limit = {1ul << 24, RLIM_INFINITY};
  CHECK(setrlimit(RLIMIT_DATA, &limit) == 0);
  void *before = sbrk(0);
  void *grown = sbrk(1ul << 26);
  CHECK(grown == (void *)-1 && sbrk(0) == before);
  printf("brk past RLIMIT_DATA refused\n");
}

static void address_space_limit(void) {
  struct rlimit limit = {1ul << 30, RLIM_INFINITY};
  CHECK(setrlimit(RLIMIT_AS, &limit) == 0);
  void *big = mmap(NULL, 2ul << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(big == MAP_FAILED && errno == ENOMEM);
  CHECK(sbrk(2ul << 30) == (void *)-1);
  char *small = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(small != MAP_FAILED);
  small[0] = 7;
  printf("mmap and brk past RLIMIT_AS refused, a small mmap works: %d\n", small[0]);
}

static void discard_own_pages(void) {
  char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(page != MAP_FAILED);
  page[0] = 1;
  int self = (int)syscall(SYS_pidfd_open, getpid(), 0);
  CHECK(self >= 0);
  struct iovec range = {page, 4096};
  long advised = syscall(SYS_process_madvise, self, &range, 1, MADV_DONTNEED, 0);
  /* Before 6.13 the kernel refuses MADV_DONTNEED here (EINVAL). */
  CHECK(advised == 4096 || (advised == -1 && errno == EINVAL));
  printf("process_madvise(MADV_DONTNEED) %s, the page holds %d\n",
         advised == 4096 ? "discarded it" : "was refused", page[0]);
  CHECK(page[0] == (advised == 4096 ? 0 : 1));
}

int main(void) {
  in_child(data_limit);
  in_child(address_space_limit);
  discard_own_pages();
  printf("nonce %llx\n", random_value());
  return 0;
}
