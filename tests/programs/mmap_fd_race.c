/* One thread opens and closes files in a loop while another maps
 * whatever descriptor the first last opened: a mapping can outlive its
 * descriptor, or the descriptor can name another file by the time the
 * recorder looks at it. The recording stopped ("cannot inspect the file
 * behind mmap") or could have stored the wrong file. */
#include "family.h"
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <unistd.h>

static char names[4][64];
static _Atomic int current = -1;
static _Atomic int done;

static void *open_and_close(void *unused) {
  (void)unused;
  for (int i = 0; i < 1500; i++) {
    int fd = open(names[i % 4], O_RDONLY);
    CHECK(fd >= 0);
    atomic_store(&current, fd);
    CHECK(close(fd) == 0);
  }
  atomic_store(&done, 1);
  return NULL;
}

static void *map_current(void *unused) {
  (void)unused;
  unsigned long mapped = 0, bad = 0;
  while (!atomic_load(&done)) {
    int fd = atomic_load(&current);
    if (fd < 0)
      continue;
    unsigned char *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
    if (page == MAP_FAILED)
      continue;
    /* Each file is one letter repeated. */
    if (page[0] < 'A' || page[0] > 'D' || page[4095] != page[0])
      bad++;
    mapped++;
    munmap(page, 4096);
  }
  return (void *)(bad ? 0 : mapped + 1);
}

int main(void) {
  for (int i = 0; i < 4; i++) {
    snprintf(names[i], sizeof names[i], "/tmp/mmap_fd_race_%d_%d", getpid(), i);
    int fd = open(names[i], O_CREAT | O_RDWR | O_TRUNC, 0600);
    CHECK(fd >= 0);
    char page[4096];
    memset(page, 'A' + i, sizeof page);
    CHECK(write(fd, page, sizeof page) == sizeof page);
    CHECK(close(fd) == 0);
  }
  pthread_t mapper, opener;
  CHECK(pthread_create(&mapper, NULL, map_current, NULL) == 0);
  CHECK(pthread_create(&opener, NULL, open_and_close, NULL) == 0);
  void *result;
  CHECK(pthread_join(opener, NULL) == 0);
  CHECK(pthread_join(mapper, &result) == 0);
  CHECK(result != NULL);
  printf("every mapping held its file's bytes (%s), %llx\n",
         (unsigned long)result > 1 ? "some mapped" : "none mapped", random_value());
  for (int i = 0; i < 4; i++)
    unlink(names[i]);
  return 0;
}
