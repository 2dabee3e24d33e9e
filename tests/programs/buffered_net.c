/* poll, epoll_wait and recv on a socket pair fed by a forked child at its
 * own pace: how often each call finds data ready, and what it reads,
 * depend on timing. With the syscall buffer, calls that find data ready
 * are buffered; the ones that must wait go through ptrace. Then recv
 * with MSG_TRUNC, which returns more than it writes (a datagram longer
 * than the buffer) or writes nothing (a TCP stream, discarding). */
#include <netinet/in.h>
#include <string.h>
#include <poll.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(void) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        return 1;
    pid_t child = fork();
    if (child == 0) {
        close(sv[0]);
        for (int i = 0; i < 400; i++) {
            unsigned char chunk[32];
            getrandom(chunk, sizeof chunk, 0);
            send(sv[1], chunk, 1 + chunk[0] % 31, 0);
            if (i % 40 == 0) {
                struct timespec pause = {0, 200000};
                nanosleep(&pause, 0);
            }
        }
        return 0;
    }
    close(sv[1]);
    int ep = epoll_create1(0);
    struct epoll_event want = {.events = EPOLLIN, .data.u32 = 7};
    epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &want);
    unsigned long sum = 0, total = 0, ready_at_once = 0, rounds = 0;
    for (;;) {
        struct pollfd pfd = {.fd = sv[0], .events = POLLIN};
        int n = poll(&pfd, 1, 0);
        ready_at_once += n > 0;
        if (rounds % 2 == 0) {
            /* Stale revents: poll overwrites them, and the buffer's
             * zero-timeout attempt already did when this one must wait. */
            pfd.revents = (short)(rounds | 0x100);
            poll(&pfd, 1, 1000);
        } else {
            struct epoll_event got;
            epoll_wait(ep, &got, 1, 1000);
            if (got.data.u32 != 7)
                return 2;
        }
        unsigned char buf[64];
        ssize_t r = recv(sv[0], buf, sizeof buf, 0);
        if (r <= 0)
            break;
        for (ssize_t i = 0; i < r; i++)
            sum = sum * 131 + buf[i];
        total += r;
        rounds++;
    }
    waitpid(child, 0, 0);
    printf("total=%lu sum=%lx rounds=%lu ready=%lu\n", total, sum, rounds, ready_at_once);

    int dg[2];
    if (socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) != 0)
        return 3;
    unsigned char datagram[48];
    getrandom(datagram, sizeof datagram, 0);
    send(dg[1], datagram, 16 + datagram[0] % 32, 0);
    unsigned char head[8] = {0};
    ssize_t whole = recv(dg[0], head, sizeof head, MSG_TRUNC);
    if (whole != 16 + datagram[0] % 32 || memcmp(head, datagram, sizeof head) != 0)
        return 4;
    printf("datagram of %zd bytes, first %02x%02x\n", whole, head[0], head[1]);

    /* A TCP stream discards with MSG_TRUNC and a NULL buffer. */
    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof addr;
    if (bind(listener, (struct sockaddr *)&addr, len) != 0 || listen(listener, 1) != 0 ||
        getsockname(listener, (struct sockaddr *)&addr, &len) != 0)
        return 5;
    int client = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(client, (struct sockaddr *)&addr, len) != 0)
        return 6;
    int server = accept(listener, 0, 0);
    send(client, "discard-kept", 12, 0);
    struct pollfd ready = {.fd = server, .events = POLLIN};
    poll(&ready, 1, 1000);
    ssize_t discarded = recv(server, NULL, 8, MSG_TRUNC);
    char kept[8] = {0};
    ssize_t rest = recv(server, kept, 4, MSG_WAITALL);
    printf("discarded %zd, then %zd: %.4s\n", discarded, rest, kept);
    return discarded == 8 && rest == 4 && memcmp(kept, "kept", 4) == 0 ? 0 : 7;
}
