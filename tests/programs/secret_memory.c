/* Memory no other process may read (memfd_secret): the recorder cannot
 * see what is written there, so it must refuse the mapping clearly. */
#include "family.h"
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void) {
  int fd = syscall(SYS_memfd_secret, 0);
  if (fd < 0) {
    printf("no memfd_secret here: %s\n", strerror(errno));
    return 0;
  }
  CHECK(ftruncate(fd, 4096) == 0);
  unsigned long long *secret = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  CHECK(secret != MAP_FAILED);
  *secret = random_value();
  printf("a secret at %p\n", (void *)secret);
  return 0;
}
