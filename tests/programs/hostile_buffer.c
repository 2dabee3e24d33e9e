// Scribbles over its own syscall buffer (the recorder's preload library
// keeps it in the program's memory), the way a buggy or malicious program
// could: argv[1] says how. It reads random bytes through buffered calls
// and prints them, so a trace that replayed wrongly would show.
//   huge-used   the header claims more bytes than the buffer holds
//   garbage     the records are overwritten with noise
//   payload     one record's recorded output is changed after the call
//   busy        the header says the hook is running, forever
//   zero        the header is cleared after records were written
// Without the recorder (or with --no-syscall-buffer) there is no buffer:
// it says so and does the same I/O.
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#define HEADER_LEN 16
#define RECORD_HEAD_LEN 88
#define PAGE 4096

struct header {
    uint32_t used, consumed, busy, checksum;
};

static const char magic[16] = "hostile-buffer!";

// Raw syscalls: no library call site makes them, so they are never
// buffered and never add records.
static long raw3(long nr, long a, long b, long c) {
    long ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "0"(nr), "D"(a), "S"(b), "d"(c)
                     : "rcx", "r11", "memory");
    return ret;
}

static char maps[1 << 16];

// Reads /proc/self/maps with raw syscalls before the buffer is searched.
static void read_maps(void) {
    long fd = raw3(2 /* open */, (long)"/proc/self/maps", O_RDONLY, 0), n, len = 0;
    if (fd < 0)
        exit(3);
    while ((n = raw3(0 /* read */, fd, (long)(maps + len), (long)(sizeof maps - 1 - len))) > 0)
        len += n;
    maps[len] = 0;
    raw3(3 /* close */, fd, 0, 0);
}

// The buffer's first record is the read of `magic` just made, so its
// output lies HEADER_LEN + RECORD_HEAD_LEN bytes into a page-aligned
// writable mapping whose header counts exactly that record.
static unsigned char *find_buffer(void) {
    for (char *line = maps; *line;) {
        unsigned long start, end;
        char perms[8];
        char *next = strchr(line, '\n');
        if (sscanf(line, "%lx-%lx %7s", &start, &end, perms) == 3 && !strncmp(perms, "rw", 2))
            for (unsigned long page = start; page + PAGE <= end; page += PAGE) {
                unsigned char *at = (unsigned char *)page;
                struct header *h = (struct header *)at;
                if (!memcmp(at + HEADER_LEN + RECORD_HEAD_LEN, magic, sizeof magic) &&
                    h->used == RECORD_HEAD_LEN + sizeof magic)
                    return at;
            }
        if (!next)
            break;
        line = next + 1;
    }
    return NULL;
}

static void read_random(int fd, unsigned char *out, size_t len) {
    if (read(fd, out, len) != (ssize_t)len)
        exit(3);
}

static void print_hex(const char *label, const unsigned char *b, size_t len) {
    printf("%s ", label);
    for (size_t i = 0; i < len; i++)
        printf("%02x", b[i]);
    printf("\n");
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "busy";
    int fd = open("/dev/urandom", O_RDONLY);
    unsigned char first[16], second[16], echo[16];
    int p[2];
    struct utsname u;
    if (pipe(p))
        return 3;
    unsigned char *buffer = NULL;
    // A call site is buffered from its second call on.
    for (int round = 0; round < 3 && !buffer; round++) {
        read_maps();
        uname(&u); // traced: the recorder empties the buffer here
        if (raw3(1 /* write */, p[1], (long)magic, sizeof magic) != sizeof magic ||
            read(p[0], echo, sizeof echo) != sizeof echo)
            return 3;
        buffer = find_buffer();
    }
    read_random(fd, first, sizeof first);
    if (buffer) {
        struct header *h = (struct header *)buffer;
        unsigned char *records = buffer + HEADER_LEN;
        if (!strcmp(mode, "huge-used")) {
            h->used = 0xfffffff0u;
        } else if (!strcmp(mode, "garbage")) {
            for (uint32_t i = 0; i < h->used; i++)
                records[i] = (unsigned char)(i * 131 + 7);
        } else if (!strcmp(mode, "payload")) {
            // The last record is the read of `first`: its output is its
            // last 16 bytes before the padding.
            if (h->used >= RECORD_HEAD_LEN + 16)
                for (uint32_t i = h->used - 16; i < h->used; i++)
                    records[i] ^= 0xff;
        } else if (!strcmp(mode, "busy")) {
            h->busy = 1;
        } else if (!strcmp(mode, "zero")) {
            memset(h, 0, sizeof *h);
        }
    }
    read_random(fd, second, sizeof second);
    uname(&u); // a traced call: the recorder empties the buffer here
    // Printed only now: stdio's first use makes traced calls, which would
    // have emptied the buffer before the scribbling.
    printf("buffer %s\n", buffer ? "found" : "absent");
    print_hex("first", first, sizeof first);
    print_hex("second", second, sizeof second);
    return 0;
}
