// prctl(PR_SET_MM): a process moves its argument area (so /proc/self/cmdline
// shows new text) and its heap's end (so brk starts from there). Replay
// must move the heap's end too, or the next brk answers otherwise. Prints
// a random token, which /proc/self/cmdline then shows.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

/// Field `n` (1-based) of /proc/self/stat, after the command.
static unsigned long stat_field(int n) {
    char text[1024];
    int fd = open("/proc/self/stat", O_RDONLY);
    ssize_t len = read(fd, text, sizeof text - 1);
    close(fd);
    text[len > 0 ? len : 0] = 0;
    char *at = strrchr(text, ')') + 2;
    for (int field = 3; field < n; field++)
        at = strchr(at, ' ') + 1;
    return strtoul(at, NULL, 10);
}

int main(void) {
    setvbuf(stdout, NULL, _IONBF, 0);
    unsigned token;
    getrandom(&token, sizeof token, 0);
    // On the stack: /proc reads the area as anonymous memory, and a page
    // of .bss that is still the file's reads as empty there.
    char new_args[64];
    int args_len = snprintf(new_args, sizeof new_args, "moved-%08x", token) + 1;
    unsigned size = 0;
    if (prctl(PR_SET_MM, PR_SET_MM_MAP_SIZE, &size, 0, 0) != 0 || size != sizeof(struct prctl_mm_map)) {
        printf("PR_SET_MM_MAP_SIZE: %s, %u\n", strerror(errno), size);
        return 1;
    }
    unsigned long heap_end = syscall(SYS_brk, 0);
    struct prctl_mm_map map = {
        .start_code = stat_field(26),
        .end_code = stat_field(27),
        .start_stack = stat_field(28),
        .start_data = stat_field(45),
        .end_data = stat_field(46),
        .start_brk = stat_field(47),
        .brk = heap_end,
        .arg_start = (uintptr_t)new_args,
        .arg_end = (uintptr_t)new_args + args_len,
        .env_start = stat_field(50),
        .env_end = stat_field(51),
        .exe_fd = -1,
    };
    if (prctl(PR_SET_MM, PR_SET_MM_MAP, &map, sizeof map, 0) != 0) {
        printf("PR_SET_MM_MAP not permitted here: %s\n", strerror(errno));
        return 0;
    }
    char shown[64] = {0};
    int fd = open("/proc/self/cmdline", O_RDONLY);
    read(fd, shown, sizeof shown - 1);
    close(fd);
    if (strcmp(shown, new_args) != 0) {
        printf("cmdline shows \"%s\"\n", shown);
        return 1;
    }
    // The heap's end, 16 pages on: brk starts from there.
    unsigned long moved = heap_end + 16 * 4096;
    map.brk = moved;
    if (prctl(PR_SET_MM, PR_SET_MM_MAP, &map, sizeof map, 0) != 0) {
        printf("moving brk: %s\n", strerror(errno));
        return 1;
    }
    unsigned long now = syscall(SYS_brk, 0);
    unsigned long grown = syscall(SYS_brk, moved + 4096);
    if (now != moved || grown != moved + 4096) {
        printf("brk after the move: %#lx then %#lx, expected %#lx\n", now, grown, moved);
        return 1;
    }
    volatile char *page = (char *)((moved + 4095) & ~4095UL);
    page[0] = (char)token;
    map.brk = heap_end;
    prctl(PR_SET_MM, PR_SET_MM_MAP, &map, sizeof map, 0);
    printf("cmdline now \"%s\"; brk moved 16 pages on and grew from there (%d)\n", shown,
           page[0] == (char)token);
    return 0;
}
