/* 32-bit syscalls (`int $0x80`, i386 numbers and registers) from 64-bit
 * code: the kernel runs them from its i386 table, so the recorder must
 * read them as i386 calls (write is 4 there, 1 in x86_64), record what
 * they write (a 32-bit timespec, a pipe's fds, random bytes) and leave
 * every register but eax as the kernel did. With an argument 1 it makes an
 * i386 call with no x86_64 equivalent (mmap2), which must be refused. */
#include "family.h"
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static long int80(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("int $0x80"
                   : "=a"(ret)
                   : "a"(nr), "b"(a), "c"(b), "d"(c)
                   : "r8", "r9", "r10", "r11", "memory");
  return ret;
}

int main(int argc, char **argv) {
  (void)argv;
  setvbuf(stdout, NULL, _IONBF, 0);
  /* int $0x80 takes 32-bit pointers. */
  char *low = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  CHECK(low != MAP_FAILED);
  long addr = (long)low;
  if (argc > 1) {
    /* mmap2(NULL, 4096, PROT_READ, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0) */
    int80(192, 0, 4096, PROT_READ);
    return 0;
  }
  int len = snprintf(low, 512, "written by int $0x80: %llx\n", random_value());
  CHECK(int80(4, 1, addr, len) == len);
  CHECK(int80(20, 0, 0, 0) == getpid());
  CHECK(int80(100000, 0, 0, 0) == -38); /* -ENOSYS */

  CHECK(int80(42, addr + 512, 0, 0) == 0); /* pipe(int[2]) */
  int *fds = (int *)(low + 512);
  CHECK(write(fds[1], "through the pipe", 16) == 16);
  CHECK(int80(3, fds[0], addr + 1024, 64) == 16); /* read */
  printf("read back: %.16s\n", low + 1024);

  CHECK(int80(355, addr + 2048, 8, 0) == 8); /* getrandom */
  unsigned long long random_bytes;
  memcpy(&random_bytes, low + 2048, sizeof random_bytes);
  printf("random: %llx\n", random_bytes);

  CHECK(int80(265, CLOCK_MONOTONIC, addr + 3072, 0) == 0); /* 32-bit timespec */
  int *timespec32 = (int *)(low + 3072);
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  CHECK(timespec32[0] <= now.tv_sec && now.tv_sec - timespec32[0] < 5);
  printf("monotonic seconds: %d.%09d\n", timespec32[0], timespec32[1]);
  return 0;
}
