/* sched_setattr(SCHED_DEADLINE): the kernel grants it only to a thread
 * whose affinity spans all CPUs of its root domain, as a program's does
 * natively. Under the recorder, pinned to one CPU, it got EPERM. Prints
 * the outcome (EPERM natively without CAP_SYS_NICE) and the policy read
 * back. */
#include "family.h"
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

struct sched_attr_v1 {
  unsigned size, policy;
  unsigned long long flags;
  int nice;
  unsigned priority;
  unsigned long long runtime, deadline, period;
};

int main(void) {
  struct sched_attr_v1 attr = {0};
  attr.size = sizeof attr;
  attr.policy = 6; /* SCHED_DEADLINE */
  attr.runtime = 2 * 1000 * 1000;
  attr.deadline = attr.period = 10 * 1000 * 1000;
  long result = syscall(SYS_sched_setattr, 0, &attr, 0);
  printf("sched_setattr(SCHED_DEADLINE): %s\n", result == 0 ? "granted" : strerror(errno));
  struct sched_attr_v1 back = {0};
  CHECK(syscall(SYS_sched_getattr, 0, &back, sizeof back, 0) == 0);
  printf("policy now %u, runtime %llu\n", back.policy, back.runtime);
  if (result == 0) {
    struct sched_attr_v1 normal = {0};
    normal.size = sizeof normal;
    CHECK(syscall(SYS_sched_setattr, 0, &normal, 0) == 0);
  }
  printf("pid %d\n", (int)getpid());
  return 0;
}
