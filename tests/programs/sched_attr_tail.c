/* sched_getattr into a buffer larger than the kernel's struct: the kernel
 * fills in its struct and, since Linux 6.x, zeroes the rest of the size
 * the caller gave. Replay must leave the buffer as the recording saw it. */
#include "family.h"
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
  unsigned char attr[256];
  unsigned char fill = (unsigned char)(random_value() | 1);
  memset(attr, fill, sizeof attr);
  CHECK(syscall(SYS_sched_getattr, 0, attr, sizeof attr, 0) == 0);
  unsigned size;
  memcpy(&size, attr, sizeof size);
  int zeroed = 0, untouched = 0;
  for (size_t i = size; i < sizeof attr; i++) {
    zeroed += attr[i] == 0;
    untouched += attr[i] == fill;
  }
  unsigned sum = 0;
  for (size_t i = 0; i < sizeof attr; i++)
    sum = sum * 31 + attr[i];
  printf("fill %02x, struct %u bytes, tail: %d zeroed, %d untouched, sum %08x\n", fill,
         size, zeroed, untouched, sum);
  return 0;
}
