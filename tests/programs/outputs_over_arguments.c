/* Calls whose data overwrites the structures that say where it goes. The
 * kernel copies an iovec array or a msghdr at the entry, so a readv whose
 * first buffer is its own iovec array still puts the rest of the data in
 * the second buffer the array named, and a recvmsg whose msghdr lies in
 * its own buffer gets the data over it (then msg_flags and msg_controllen
 * written back into it). Read again at the exit, the structures name
 * garbage; the recording must name where the data really went. */
#include "family.h"
#include <fcntl.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static unsigned checksum(const unsigned char *bytes, size_t len) {
  unsigned sum = 0;
  for (size_t i = 0; i < len; i++)
    sum = sum * 31 + bytes[i];
  return sum;
}

int main(void) {
  unsigned char data[96];
  CHECK(getrandom(data, sizeof data, 0) == sizeof data);
  char path[64];
  snprintf(path, sizeof path, "/tmp/outputs-over-arguments-%d", (int)getpid());
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0);
  unlink(path);
  CHECK(write(fd, data, sizeof data) == sizeof data);

  /* readv: 2 iovecs (32 bytes) are the first buffer, 32 bytes long. */
  struct iovec vectors[2];
  unsigned char second[64] = {0};
  vectors[0].iov_base = vectors;
  vectors[0].iov_len = sizeof vectors;
  vectors[1].iov_base = second;
  vectors[1].iov_len = sizeof second;
  CHECK(lseek(fd, 0, SEEK_SET) == 0);
  CHECK(readv(fd, vectors, 2) == (ssize_t)(sizeof vectors + sizeof second));
  CHECK(memcmp(vectors, data, sizeof vectors) == 0);
  CHECK(memcmp(second, data + sizeof vectors, sizeof second) == 0);
  printf("readv over its own iovecs: %08x %08x\n", checksum((void *)vectors, sizeof vectors),
         checksum(second, sizeof second));

  /* recvmsg: the msghdr and iovec sit at the start of the receive buffer. */
  int pair[2];
  CHECK(socketpair(AF_UNIX, SOCK_DGRAM, 0, pair) == 0);
  CHECK(send(pair[0], data, sizeof data, 0) == sizeof data);
  union {
    unsigned char bytes[sizeof data];
    struct {
      struct msghdr header;
      struct iovec vector;
    } call;
  } buffer;
  memset(&buffer, 0, sizeof buffer);
  buffer.call.vector.iov_base = buffer.bytes;
  buffer.call.vector.iov_len = sizeof buffer.bytes;
  buffer.call.header.msg_iov = &buffer.call.vector;
  buffer.call.header.msg_iovlen = 1;
  CHECK(recvmsg(pair[1], &buffer.call.header, 0) == sizeof data);
  /* The kernel wrote msg_controllen and msg_flags (both 0) back over the data. */
  unsigned char expected[sizeof data];
  memcpy(expected, data, sizeof data);
  memset(expected + offsetof(struct msghdr, msg_controllen), 0, sizeof(size_t));
  memset(expected + offsetof(struct msghdr, msg_flags), 0, sizeof(int));
  CHECK(memcmp(buffer.bytes, expected, sizeof data) == 0);
  printf("recvmsg over its own msghdr: %08x\n", checksum(buffer.bytes, sizeof buffer.bytes));
  return 0;
}
