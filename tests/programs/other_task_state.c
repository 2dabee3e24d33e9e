// What a process reads of another task's state in /proc: a child blocked
// in read() shows S; stopped by SIGSTOP (seen with WUNTRACED) it shows T
// in /proc/PID/stat, in /proc/PID/status and in each of its threads'
// task/TID/stat, with no tracer in TracerPid; continued, S again. Under a
// tracer the kernel shows every task it holds as "t (tracing stop)" and
// names the tracer. Prints the pid and a random payload.
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t child;

static int fail(const char *what, const char *seen) {
    printf("FAIL %s: %s\n", what, seen);
    kill(child, SIGKILL);
    return 1;
}

/// The state letter in `path` (a stat file), or '?'.
static char stat_state(const char *path) {
    char text[512];
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return '?';
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0)
        return '?';
    text[n] = 0;
    char *paren = strrchr(text, ')');
    return paren && paren[1] == ' ' ? paren[2] : '?';
}

/// The value of `key` in /proc/PID/status, into `out`.
static void status_line(pid_t pid, const char *key, char *out, size_t len) {
    char path[64], text[4096];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    int fd = open(path, O_RDONLY);
    ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
    if (fd >= 0)
        close(fd);
    snprintf(out, len, "?");
    if (n <= 0)
        return;
    text[n] = 0;
    char *at = strstr(text, key);
    if (!at)
        return;
    at += strlen(key);
    while (*at == '\t' || *at == ' ')
        at++;
    size_t i = 0;
    while (at[i] && at[i] != '\n' && i + 1 < len) {
        out[i] = at[i];
        i++;
    }
    out[i] = 0;
}

/// Whether every thread of `pid` shows `want` in its task/TID/stat.
static int all_threads_show(pid_t pid, char want, int *count) {
    char dir_path[64], path[384];
    snprintf(dir_path, sizeof dir_path, "/proc/%d/task", pid);
    DIR *dir = opendir(dir_path);
    if (!dir)
        return 0;
    int ok = 1;
    *count = 0;
    struct dirent *entry;
    while ((entry = readdir(dir))) {
        if (entry->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s/stat", dir_path, entry->d_name);
        (*count)++;
        ok &= stat_state(path) == want;
    }
    closedir(dir);
    return ok;
}

static void *block_forever(void *unused) {
    (void)unused;
    for (;;)
        pause();
    return NULL;
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    alarm(20);
    int data[2], ready[2];
    if (pipe(data) || pipe(ready))
        return 1;
    unsigned payload;
    getrandom(&payload, sizeof payload, 0);
    child = fork();
    if (child == 0) {
        pthread_t helper;
        pthread_create(&helper, NULL, block_forever, NULL);
        write(ready[1], "r", 1);
        unsigned got = 0;
        read(data[0], &got, sizeof got);
        _exit(got == payload ? 0 : 3);
    }
    char byte, seen[64], path[64];
    read(ready[0], &byte, 1);
    snprintf(path, sizeof path, "/proc/%d/stat", child);
    for (int i = 0; i < 3000 && stat_state(path) != 'S'; i++)
        usleep(1000);
    if (stat_state(path) != 'S')
        return fail("blocked child", (char[]){stat_state(path), 0});
    kill(child, SIGSTOP);
    int status;
    if (waitpid(child, &status, WUNTRACED) != child || !WIFSTOPPED(status))
        return fail("stop", "no stop reported");
    int threads = 0;
    char state = stat_state(path);
    if (state != 'T')
        return fail("stopped child's stat", (char[]){state, 0});
    if (!all_threads_show(child, 'T', &threads) || threads != 2)
        return fail("stopped child's threads", "not all T");
    status_line(child, "State:", seen, sizeof seen);
    if (strcmp(seen, "T (stopped)") != 0)
        return fail("stopped child's status", seen);
    status_line(child, "TracerPid:", seen, sizeof seen);
    if (strcmp(seen, "0") != 0)
        return fail("stopped child's tracer", seen);
    kill(child, SIGCONT);
    if (waitpid(child, &status, WCONTINUED) != child || !WIFCONTINUED(status))
        return fail("continue", "not reported");
    for (int i = 0; i < 3000 && stat_state(path) != 'S'; i++)
        usleep(1000);
    if (stat_state(path) != 'S')
        return fail("continued child", (char[]){stat_state(path), 0});
    write(data[1], &payload, sizeof payload);
    kill(child, SIGKILL);
    waitpid(child, &status, 0);
    printf("pid %d: child %d with %d threads showed S, T (stopped, no tracer), S; payload %08x\n",
           getpid(), child, threads, payload);
    return 0;
}
