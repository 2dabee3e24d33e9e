/* A thread spins in user code, without a syscall, until another thread's
 * read (or recv) fills the word it watches: the kernel writes the word
 * while the reader is inside its syscall. Three shapes: the data is
 * already there; the reader waits for it, and the spinner sends it; and
 * a socket's recv. Each prints how long the spinner spun. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/socket.h>
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

static long spin_until_set(volatile unsigned *word) {
    long spins = 0;
    while (*word == 0)
        spins++;
    return spins;
}

int main(void) {
    unsigned values[3];
    if (getrandom(values, sizeof values, 0) != sizeof values)
        return 1;
    for (int i = 0; i < 3; i++)
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
    return first_word == values[0] && second_word == values[1] && third_word == values[2] ? 0 : 2;
}
