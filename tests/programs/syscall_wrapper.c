/* Every call goes through libc's generic syscall() wrapper, whose one
 * `syscall` instruction the recorder patches for the syscall buffer once a
 * bufferable call (getrandom) passes there. Calls the buffer does not take
 * (sched_yield) then leave through the preload library's traced path, and
 * are still the program's own. */
#include "family.h"
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
  unsigned long long value = 0;
  for (int i = 0; i < 3; i++)
    CHECK(syscall(SYS_getrandom, &value, sizeof value, 0) == sizeof value);
  for (int i = 0; i < 3; i++) CHECK(syscall(SYS_sched_yield) == 0);
  printf("through syscall(): %llx\n", value);
  return 0;
}
