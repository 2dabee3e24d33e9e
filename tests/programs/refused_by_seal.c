/* A memfd sealed against future writes keeps its existing shared writable
 * mapping, refuses a new one (EPERM) and refuses to make a read-only
 * mapping writable (EACCES). Replay runs mprotect for real on its own copy
 * of the memfd, which has no seals: the refusal must come from the trace. */
#include "family.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef F_SEAL_FUTURE_WRITE
#define F_SEAL_FUTURE_WRITE 0x0010
#endif

int main(void) {
  long page = sysconf(_SC_PAGESIZE);
  int fd = memfd_create("sealed", MFD_ALLOW_SEALING);
  CHECK(fd >= 0);
  CHECK(ftruncate(fd, page) == 0);
  unsigned long long *w = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  CHECK(w != MAP_FAILED);
  CHECK(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE) == 0);
  w[0] = random_value();
  errno = 0;
  CHECK(mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED && errno == EPERM);
  unsigned long long *ro = mmap(NULL, page, PROT_READ, MAP_SHARED, fd, 0);
  CHECK(ro != MAP_FAILED && ro[0] == w[0]);
  errno = 0;
  CHECK(mprotect(ro, page, PROT_READ | PROT_WRITE) == -1 && errno == EACCES);
  printf("sealed memfd holds %llx, read-only view stays read-only\n", ro[0]);
  return 0;
}
