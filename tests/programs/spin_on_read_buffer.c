/* A thread spins in user code, without a syscall, until another thread's
 * read (or recv) fills the word it watches: the kernel writes the word
 * while the reader is inside its syscall. Four shapes: the data is
 * already there; the reader waits for it, and the spinner sends it; a
 * socket's recv; and a forked child reading into memory it shares with
 * the spinning parent. Each prints how long the spinner spun. */
#include "family.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static int pipe_fds[2];
static int sockets[2];
static volatile unsigned first_word;
static volatile unsigned second_word;
static volatile unsigned third_word;
static volatile int reader_started;

static void *read_ready_data(void *arg) {
    (void)arg;
    if (read(pipe_fds[0], (void *)&first_word, sizeof first_word) != sizeof first_word)
        abort();
    return NULL;
}

static void *read_waiting_data(void *arg) {
    (void)arg;
    reader_started = 1;
    if (read(pipe_fds[0], (void *)&second_word, sizeof second_word) != sizeof second_word)
        abort();
    return NULL;
}

static void *receive(void *arg) {
    (void)arg;
    if (recv(sockets[0], (void *)&third_word, sizeof third_word, 0) != sizeof third_word)
        abort();
    return NULL;
}

int main(void) {
    unsigned values[4];
    if (getrandom(values, sizeof values, 0) != sizeof values)
        return 1;
    for (int i = 0; i < 4; i++)
        values[i] |= 1;
    if (pipe(pipe_fds) || socketpair(AF_UNIX, SOCK_STREAM, 0, sockets))
        return 1;

    pthread_t reader;
    if (write(pipe_fds[1], &values[0], sizeof values[0]) != sizeof values[0])
        return 1;
    pthread_create(&reader, NULL, read_ready_data, NULL);
    long spins = spin_until_set(&first_word);
    pthread_join(reader, NULL);
    printf("ready: %u after %ld spins\n", first_word, spins);

    pthread_create(&reader, NULL, read_waiting_data, NULL);
    while (!reader_started)
        ;
    usleep(2000);
    if (write(pipe_fds[1], &values[1], sizeof values[1]) != sizeof values[1])
        return 1;
    spins = spin_until_set(&second_word);
    pthread_join(reader, NULL);
    printf("waited: %u after %ld spins\n", second_word, spins);

    pthread_create(&reader, NULL, receive, NULL);
    usleep(2000);
    if (send(sockets[1], &values[2], sizeof values[2], 0) != sizeof values[2])
        return 1;
    spins = spin_until_set(&third_word);
    pthread_join(reader, NULL);
    printf("received: %u after %ld spins\n", third_word, spins);

    volatile unsigned *shared =
        mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED)
        return 1;
    pid_t child = fork();
    if (child == 0)
        _exit(read(pipe_fds[0], (void *)shared, sizeof *shared) == sizeof *shared ? 0 : 1);
    usleep(2000);
    if (write(pipe_fds[1], &values[3], sizeof values[3]) != sizeof values[3])
        return 1;
    spins = spin_until_set(shared);
    int status = 0;
    waitpid(child, &status, 0);
    printf("child read: %u after %ld spins, status %d\n", *shared, spins, status);
    return first_word == values[0] && second_word == values[1] && third_word == values[2] &&
                   *shared == values[3] && status == 0
               ? 0
               : 2;
}
