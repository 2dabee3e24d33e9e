/* A program that lowers its stack limit and then overflows the stack by
 * recursion, catching the SIGSEGV on an alternate stack: the overflow
 * comes at the depth the limit allows, in the recording and in replay. */
#include "family.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

static sigjmp_buf back;
static volatile unsigned long depth;

static void on_overflow(int sig) {
  (void)sig;
  siglongjmp(back, 1);
}

static unsigned long recurse(unsigned long n) {
  volatile char pad[512];
  pad[0] = (char)n;
  depth = n;
  return recurse(n + 1) + pad[0];
}

int main(void) {
  struct rlimit limit = {1 << 20, 1 << 20};
  CHECK(setrlimit(RLIMIT_STACK, &limit) == 0);
  static char alternate[1 << 16];
  stack_t ss = {.ss_sp = alternate, .ss_size = sizeof alternate};
  CHECK(sigaltstack(&ss, NULL) == 0);
  struct sigaction sa = {0};
  sa.sa_handler = on_overflow;
  sa.sa_flags = SA_ONSTACK;
  CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
  if (sigsetjmp(back, 1) == 0) recurse(0);
  CHECK(depth > 100 && depth < 4096);
  printf("overflowed at depth %lu, random %llx\n", depth / 64, random_value());
  return 0;
}
