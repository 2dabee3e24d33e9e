/* seccomp user notification: a child installs a filter that sends its
 * getppid calls to a listener, and hands the listener's fd to its parent
 * over a unix socket. The parent receives each notification
 * (SECCOMP_IOCTL_NOTIF_RECV), checks it, and answers with a random value
 * the child then sees as getppid's result. */
#include "family.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void send_fd(int socket, int fd) {
  char byte = 0;
  struct iovec iov = {&byte, 1};
  char control[CMSG_SPACE(sizeof(int))] = {0};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                       .msg_controllen = sizeof control};
  struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
  cmsg->cmsg_level = SOL_SOCKET;
  cmsg->cmsg_type = SCM_RIGHTS;
  cmsg->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cmsg), &fd, sizeof fd);
  CHECK(sendmsg(socket, &msg, 0) == 1);
}

static int receive_fd(int socket) {
  char byte;
  struct iovec iov = {&byte, 1};
  char control[CMSG_SPACE(sizeof(int))];
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control,
                       .msg_controllen = sizeof control};
  CHECK(recvmsg(socket, &msg, 0) == 1);
  int fd;
  memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof fd);
  return fd;
}

int main(void) {
  int answer = (int)(random_value() % 100000) + 2;
  int sockets[2];
  CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sockets) == 0);
  pid_t child = fork();
  CHECK(child >= 0);
  if (child == 0) {
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {sizeof code / sizeof code[0], code};
    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                            SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
    CHECK(listener >= 0);
    send_fd(sockets[1], (int)listener);
    close((int)listener);
    long seen[2] = {syscall(SYS_getppid), syscall(SYS_getppid)};
    CHECK(write(sockets[1], seen, sizeof seen) == sizeof seen);
    _exit(0);
  }
  int listener = receive_fd(sockets[0]);
  for (int i = 0; i < 2; i++) {
    struct seccomp_notif request;
    memset(&request, 0, sizeof request);
    CHECK(ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &request) == 0);
    CHECK(request.pid == child && request.data.nr == SYS_getppid);
    struct seccomp_notif_resp response = {.id = request.id, .val = answer + i};
    CHECK(ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &response) == 0);
  }
  long seen[2];
  CHECK(read(sockets[0], seen, sizeof seen) == sizeof seen);
  int status;
  CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status));
  printf("the child's getppid calls were answered %ld and %ld by its parent\n", seen[0],
         seen[1]);
  CHECK(seen[0] == answer && seen[1] == answer + 1);
  return 0;
}
