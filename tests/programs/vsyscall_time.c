/* time, gettimeofday and getcpu through the legacy vsyscall page, as
 * binaries linked before 2012 call them: the kernel emulates each call
 * when the page is executed, with no syscall instruction. */
#include "family.h"
#include <sys/time.h>

typedef int (*gettimeofday_fn)(struct timeval *, struct timezone *);
typedef long (*time_fn)(long *);
typedef long (*getcpu_fn)(unsigned *, unsigned *, void *);

int main(void) {
  gettimeofday_fn legacy_gettimeofday = (gettimeofday_fn)0xffffffffff600000UL;
  time_fn legacy_time = (time_fn)0xffffffffff600400UL;
  getcpu_fn legacy_getcpu = (getcpu_fn)0xffffffffff600800UL;
  struct timeval now;
  struct timezone zone;
  CHECK(legacy_gettimeofday(&now, &zone) == 0);
  CHECK(legacy_gettimeofday(&now, NULL) == 0);
  long stored = 0;
  long seconds = legacy_time(&stored);
  /* time() reads the coarse clock, which may still be in the second
   * before the one gettimeofday just saw. */
  CHECK(seconds == stored && seconds >= now.tv_sec - 1);
  CHECK(legacy_time(NULL) >= seconds);
  unsigned cpu = 9999, node = 9999;
  CHECK(legacy_getcpu(&cpu, &node, NULL) == 0);
  CHECK(cpu < 9999 && node < 9999);
  printf("microseconds %ld, seconds %ld, zone %d, cpu known %d\n", (long)now.tv_usec, seconds,
         zone.tz_minuteswest, cpu < 4096);
  return 0;
}
