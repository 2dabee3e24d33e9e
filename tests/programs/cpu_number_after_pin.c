/* A thread that pins itself to each of its CPUs in turn reads the CPU
 * number without a syscall: `lsl` of the per-CPU segment (selector 0x7b,
 * limit = node << 12 | cpu), which nothing can trap. Replay must run the
 * thread where the recording did after each successful
 * sched_setaffinity, or it reads another number. */
#include "family.h"
#include <sched.h>
#include <stdint.h>
#include <unistd.h>

static int cpu_by_lsl(void) {
  uint32_t limit = 0;
  uint8_t valid;
  __asm__ volatile("lsl %2, %0; setz %1" : "+r"(limit), "=q"(valid) : "r"(0x7bu));
  return valid ? (int)(limit & 0xfff) : -1;
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  cpu_set_t all;
  CHECK(sched_getaffinity(0, sizeof all, &all) == 0);
  for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
    if (!CPU_ISSET(cpu, &all))
      continue;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    CHECK(sched_setaffinity(0, sizeof one, &one) == 0);
    int seen = cpu_by_lsl();
    CHECK(seen == -1 || seen == cpu);
    printf("pinned to %d, lsl says %d\n", cpu, seen);
  }
  CHECK(sched_setaffinity(0, sizeof all, &all) == 0);
  printf("pid %d\n", (int)getpid());
  return 0;
}
