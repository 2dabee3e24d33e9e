/* The kernel counts each read and write syscall in /proc/PID/io (syscr,
 * syscw). A recorder that makes a call twice, or tries it another way
 * first, shows in those counts: they must be what the program's own calls
 * make. Cases: the first read of a procfs file, a short read at a
 * file's end, reads and writes of a terminal, a zero-length read, and a
 * read or write the fd's open mode refuses (EBADF, uncounted). */
#include "family.h"
#include <fcntl.h>
#include <pty.h>
#include <unistd.h>

static int io;

/* The process's count of read (or write) syscalls so far, from one read. */
static long long counter(const char *name) {
  char text[1024];
  ssize_t n = pread(io, text, sizeof text - 1, 0);
  CHECK(n > 0);
  text[n] = 0;
  char *at = strstr(text, name);
  CHECK(at != NULL);
  return atoll(at + strlen(name));
}

/* How many syscalls `name` counts for `call`, less the sampling read. */
#define COUNT(name, call)                                                     \
  ({                                                                          \
    long long before_ = counter(name);                                        \
    call;                                                                     \
    counter(name) - before_ - (name[4] == 'r');                               \
  })

int main(void) {
  io = open("/proc/self/io", O_RDONLY);
  CHECK(io >= 0);
  char buf[4096];
  long long first = COUNT("syscr:", (void)0);
  int stat = open("/proc/self/stat", O_RDONLY);
  CHECK(stat >= 0);
  long long procfs = COUNT("syscr:", pread(stat, buf, sizeof buf, 0));

  char path[] = "/tmp/replay-io-XXXXXX";
  int file = mkstemp(path);
  CHECK(file >= 0);
  unlink(path);
  unsigned long long nonce = random_value();
  CHECK(write(file, &nonce, sizeof nonce) == sizeof nonce);
  long long short_read = COUNT("syscr:", pread(file, buf, sizeof buf, 0));
  CHECK(lseek(file, 0, SEEK_SET) == 0);
  long long short_plain = COUNT("syscr:", read(file, buf, sizeof buf));
  long long zero_length = COUNT("syscr:", read(file, buf, 0));

  int writer = open("/dev/null", O_RDONLY);
  CHECK(writer >= 0);
  long long refused_write = COUNT("syscw:", write(writer, buf, 8));
  int reader = open("/dev/null", O_WRONLY);
  CHECK(reader >= 0);
  long long refused_read = COUNT("syscr:", read(reader, buf, 8));

  int master, slave;
  CHECK(openpty(&master, &slave, NULL, NULL, NULL) == 0);
  long long tty_write = COUNT("syscw:", write(slave, "hello\n", 6));
  long long tty_read = COUNT("syscr:", read(master, buf, sizeof buf));

  printf("nonce %llx: counted syscalls: sampling %lld, procfs pread %lld, "
         "short pread %lld, short read %lld, empty read %lld, refused write "
         "%lld, refused read %lld, tty write %lld, tty read %lld\n",
         nonce, first, procfs, short_read, short_plain, zero_length,
         refused_write, refused_read, tty_write, tty_read);
  CHECK(first == 0 && procfs == 1 && short_read == 1 && short_plain == 1);
  CHECK(zero_length == 1 && refused_write == 0 && refused_read == 0);
  CHECK(tty_write == 1 && tty_read == 1);
  return 0;
}
