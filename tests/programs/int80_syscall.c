/* A 32-bit syscall (`int $0x80`, i386 numbering: 4 is write) from 64-bit
 * code. The recorder cannot model it and must refuse it clearly rather
 * than record it as the 64-bit call with that number. */
#include "family.h"
#include <sys/mman.h>

int main(void) {
  /* int $0x80 takes 32-bit pointers. */
  char *buf = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  CHECK(buf != MAP_FAILED);
  int len = snprintf(buf, 4096, "written by int $0x80: %llx\n", random_value());
  long written;
  __asm__ volatile("int $0x80"
                   : "=a"(written)
                   : "a"(4), "b"(1), "c"(buf), "d"(len)
                   : "r8", "r9", "r10", "r11", "memory");
  CHECK(written == len);
  return 0;
}
