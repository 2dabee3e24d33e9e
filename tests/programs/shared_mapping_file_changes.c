/* A file mapped MAP_SHARED changes in ways that carry no bytes from the
 * caller's memory: copied in from another file or a pipe, holes punched,
 * appended to through an offset the call ignores, truncated by name or by
 * an O_TRUNC open, and written by a process forked before the mapping.
 * The mapping shows each change at once; after each the program prints a
 * checksum of what it sees and checks it against the file. */
#include "family.h"
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static long page;
static unsigned char *map;
static int fd;

/* What the mapping shows up to the file's end, checked against a read. */
static void show(const char *step) {
  struct stat st;
  CHECK(fstat(fd, &st) == 0);
  size_t len = st.st_size < 4 * page ? (size_t)st.st_size : 4 * (size_t)page;
  unsigned char *read_back = malloc(len + 1);
  CHECK(pread(fd, read_back, len, 0) == (ssize_t)len);
  CHECK(memcmp(map, read_back, len) == 0);
  unsigned sum = 0;
  for (size_t i = 0; i < len; i++) sum = sum * 31 + map[i];
  printf("%-22s size %6zu sum %08x\n", step, len, sum);
  free(read_back);
}

static void fill_random(unsigned char *buf, size_t len) {
  for (size_t done = 0; done < len;) {
    ssize_t n = getrandom(buf + done, len - done, 0);
    CHECK(n > 0);
    done += n;
  }
}

int main(void) {
  page = sysconf(_SC_PAGESIZE);
  CHECK(chdir("/tmp") == 0);
  char name[] = "replay-shared-changes-XXXXXX";
  fd = mkstemp(name);
  CHECK(fd >= 0);
  unsigned char *bytes = malloc(3 * page);
  fill_random(bytes, 3 * page);
  CHECK(pwrite(fd, bytes, 3 * page, 0) == 3 * page);

  /* A child forked before the mapping writes when told to. */
  int go[2], done[2];
  CHECK(pipe(go) == 0 && pipe(done) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    char c;
    CHECK(read(go[0], &c, 1) == 1);
    unsigned long long v = random_value();
    CHECK(pwrite(fd, &v, sizeof v, page + 7) == sizeof v);
    CHECK(lseek(fd, 2 * page + 3, SEEK_SET) == 2 * page + 3);
    CHECK(write(fd, &v, sizeof v) == sizeof v);
    CHECK(write(done[1], "k", 1) == 1);
    _exit(0);
  }

  map = mmap(NULL, 4 * page, PROT_READ, MAP_SHARED, fd, 0);
  CHECK(map != MAP_FAILED);
  show("mapped");

  CHECK(write(go[1], "g", 1) == 1);
  char c;
  CHECK(read(done[0], &c, 1) == 1);
  int status;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status));
  show("child wrote");

  char source_name[] = "replay-shared-source-XXXXXX";
  int source = mkstemp(source_name);
  CHECK(source >= 0);
  unlink(source_name);
  fill_random(bytes, page);
  CHECK(pwrite(source, bytes, page, 0) == page);
  loff_t in = 10, out = 100;
  CHECK(copy_file_range(source, &in, fd, &out, 50, 0) == 50);
  show("copy_file_range");

  CHECK(lseek(fd, 300, SEEK_SET) == 300);
  off_t from = 200;
  CHECK(sendfile(fd, source, &from, 40) == 40);
  show("sendfile");

  int pipe_fds[2];
  CHECK(pipe(pipe_fds) == 0);
  CHECK(write(pipe_fds[1], bytes + 400, 64) == 64);
  loff_t at = 500;
  CHECK(splice(pipe_fds[0], NULL, fd, &at, 32, 0) == 32);
  CHECK(splice(pipe_fds[0], NULL, fd, NULL, 32, 0) == 32);
  show("splice");

  CHECK(fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, page, page) ==
        0);
  show("punched hole");

  int appender = open(name, O_RDWR | O_APPEND);
  CHECK(appender >= 0);
  CHECK(pwrite(appender, bytes + 700, 20, 0) == 20);
  show("pwrite, O_APPEND");
  struct iovec iov = {bytes + 800, 30};
  CHECK(pwritev2(fd, &iov, 1, 0, RWF_APPEND) == 30);
  show("pwritev2, RWF_APPEND");

  CHECK(truncate(name, 2 * page + 100) == 0);
  show("truncate by name");

  int reopened = open(name, O_RDWR | O_TRUNC);
  CHECK(reopened >= 0);
  show("O_TRUNC open");
  CHECK(pwrite(reopened, bytes, 64, 0) == 64);
  CHECK(ftruncate(reopened, page) == 0);
  show("written again");

  unlink(name);
  return 0;
}
