/* A MAP_PRIVATE file mapping shows the file's later writes in the pages it
 * has not copied yet, and keeps its own bytes in those it wrote; the same
 * for a read-only private mapping and one of another process, and for a
 * file mapped only through a read-only descriptor and written through
 * another. */
#include "family.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void) {
  char path[] = "/tmp/replay-private-map-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  unlink(path);
  long page = sysconf(_SC_PAGESIZE);
  char *initial = calloc(3, page);
  memset(initial, 'a', 3 * page);
  CHECK(pwrite(fd, initial, 3 * page, 0) == 3 * page);

  char *cow = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  CHECK(cow != MAP_FAILED);
  char *ro = mmap(NULL, 3 * page, PROT_READ, MAP_PRIVATE, fd, 0);
  CHECK(ro != MAP_FAILED);
  cow[0] = 'P'; /* page 0 is the mapping's own from here on */

  unsigned long long nonce = random_value();
  char text[64];
  int len = snprintf(text, sizeof text, "%016llx", nonce);
  CHECK(pwrite(fd, text, len, 0) == len);
  CHECK(pwrite(fd, text, len, page) == len);

  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    /* The child's pages were copied at fork only where the parent had
     * written; a write now reaches the rest of both. */
    CHECK(pwrite(fd, "child", 5, 2 * page) == 5);
    _exit(0);
  }
  int status;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status));

  /* A second file, mapped only through a read-only descriptor. */
  char other_path[] = "/tmp/replay-private-map-ro-XXXXXX";
  int writer = mkstemp(other_path);
  CHECK(writer >= 0);
  CHECK(pwrite(writer, initial, page, 0) == page);
  int reader = open(other_path, O_RDONLY);
  CHECK(reader >= 0);
  unlink(other_path);
  char *through_reader = mmap(NULL, page, PROT_READ, MAP_PRIVATE, reader, 0);
  CHECK(through_reader != MAP_FAILED);
  CHECK(pwrite(writer, text, len, 8) == len);
  printf("mapped through a read-only descriptor: %.24s\n", through_reader);
  CHECK(memcmp(through_reader + 8, text, len) == 0);

  printf("nonce %s\n", text);
  printf("written page: %.16s\n", cow);
  printf("untouched page: %.16s\n", cow + page);
  printf("page the child wrote: %.16s\n", cow + 2 * page);
  printf("read-only mapping: %.16s %.16s\n", ro, ro + 2 * page);
  CHECK(cow[0] == 'P' && cow[1] == 'a');
  CHECK(memcmp(cow + page, text, len) == 0);
  CHECK(memcmp(cow + 2 * page, "child", 5) == 0);
  CHECK(memcmp(ro, text, len) == 0);
  return 0;
}
