/* gettimeofday through the legacy vsyscall page, as binaries linked before
 * 2012 call it: the kernel emulates the call when the page is executed. */
#include "family.h"
#include <sys/time.h>

typedef int (*gettimeofday_fn)(struct timeval *, void *);

int main(void) {
  gettimeofday_fn legacy = (gettimeofday_fn)0xffffffffff600000UL;
  struct timeval now;
  CHECK(legacy(&now, NULL) == 0);
  printf("microseconds %ld\n", (long)now.tv_usec);
  return 0;
}
