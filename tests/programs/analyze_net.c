/* Connects to a loopback server in the same process (bounded: one
 * connection, a few bytes each way). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>
int main(void) {
    int srv = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    if (bind(srv, (struct sockaddr *)&a, sizeof a) < 0) return 3;
    listen(srv, 1);
    socklen_t len = sizeof a;
    getsockname(srv, (struct sockaddr *)&a, &len);
    int c = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) return 4;
    int s = accept(srv, 0, 0);
    write(c, "ping", 4);
    char buf[8];
    read(s, buf, sizeof buf);
    write(s, "pong", 4);
    read(c, buf, sizeof buf);
    close(s);
    close(c);
    close(srv);
    printf("port %d\n", ntohs(a.sin_port));
    return 0;
}
