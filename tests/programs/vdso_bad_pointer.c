/* The vDSO's clock functions write their results in user space, so a bad
 * pointer faults there: SIGSEGV at the pointer, with SEGV_ACCERR for a
 * read-only page. Clocks the vDSO does not read itself (a CPU-time clock)
 * and the raw syscalls answer EFAULT instead. Under the recorder the
 * vDSO functions are syscalls, which must still fault where they would. */
#include "family.h"
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static sigjmp_buf back;
static volatile void *fault_address;
static volatile int fault_code;

static void on_segv(int signo, siginfo_t *info, void *context) {
  (void)signo;
  (void)context;
  fault_address = info->si_addr;
  fault_code = info->si_code;
  siglongjmp(back, 1);
}

/* "SIGSEGV" when the call faulted at `at`, "EFAULT" when it failed so. */
static const char *outcome(int which, char *at) {
  fault_address = NULL;
  if (sigsetjmp(back, 1))
    return fault_address == at && fault_code == SEGV_ACCERR ? "SIGSEGV" : "SIGSEGV elsewhere";
  long result;
  errno = 0;
  switch (which) {
  case 0: result = clock_gettime(CLOCK_MONOTONIC, (struct timespec *)at); break;
  case 1: result = gettimeofday((struct timeval *)at, NULL); break;
  case 2: result = time((time_t *)at); break;
  case 3: result = clock_gettime(CLOCK_PROCESS_CPUTIME_ID, (struct timespec *)at); break;
  default: result = syscall(SYS_clock_gettime, CLOCK_MONOTONIC, at); break;
  }
  return result == -1 && errno == EFAULT ? "EFAULT" : "returned";
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  struct sigaction action = {0};
  action.sa_sigaction = on_segv;
  action.sa_flags = SA_SIGINFO | SA_NODEFER;
  CHECK(sigaction(SIGSEGV, &action, NULL) == 0);
  char *read_only = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHECK(read_only != MAP_FAILED);
  const char *names[] = {"vDSO clock_gettime(MONOTONIC)", "vDSO gettimeofday", "vDSO time",
                         "clock_gettime(PROCESS_CPUTIME_ID)", "raw clock_gettime"};
  for (int which = 0; which < 5; which++)
    printf("%s into a read-only page: %s\n", names[which], outcome(which, read_only + 64));
  struct timespec now;
  CHECK(clock_gettime(CLOCK_REALTIME, &now) == 0);
  printf("now %lld.%09ld\n", (long long)now.tv_sec, now.tv_nsec);
  return 0;
}
