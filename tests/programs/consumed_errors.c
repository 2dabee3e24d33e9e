/* A read whose error the kernel hands out once: a TCP connection the peer
 * reset answers ECONNRESET to the first read after it, and end-of-file
 * from then on. The reads go through one call site, so that with the
 * syscall buffer they are buffered: the buffer's first, non-blocking try
 * takes the error, which must be the program's answer. */
#include "family.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static __attribute__((noinline)) ssize_t read_once(int fd, char *buf, size_t len) {
  return read(fd, buf, len);
}

int main(void) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(listener >= 0);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof addr;
  CHECK(bind(listener, (struct sockaddr *)&addr, sizeof addr) == 0);
  CHECK(listen(listener, 1) == 0);
  CHECK(getsockname(listener, (struct sockaddr *)&addr, &len) == 0);
  int client = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(client >= 0 && connect(client, (struct sockaddr *)&addr, sizeof addr) == 0);
  int server = accept(listener, NULL, NULL);
  CHECK(server >= 0);
  unsigned long long token = random_value();
  char buf[64];
  /* Data first, through the same site, a few times. */
  for (int i = 0; i < 4; i++) {
    CHECK(write(client, &token, sizeof token) == sizeof token);
    CHECK(read_once(server, buf, sizeof buf) == sizeof token);
  }
  struct linger reset = {.l_onoff = 1, .l_linger = 0};
  CHECK(setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof reset) == 0);
  CHECK(close(client) == 0);
  usleep(20000);
  errno = 0;
  ssize_t first = read_once(server, buf, sizeof buf);
  int first_errno = errno;
  ssize_t second = read_once(server, buf, sizeof buf);
  CHECK(first == -1 && first_errno == ECONNRESET);
  CHECK(second == 0);
  printf("token %llx: reset read -1 %s, then %zd\n", token, strerror(first_errno), second);
  return 0;
}
