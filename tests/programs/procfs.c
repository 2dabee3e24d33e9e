/* /proc reads: per-run process state and system counters. */
#include <stdio.h>
int main(void) {
    char buf[512];
    const char *files[] = {"/proc/self/stat", "/proc/uptime", "/proc/loadavg", "/proc/self/maps"};
    for (int i = 0; i < 4; i++) {
        FILE *f = fopen(files[i], "r");
        if (!f) return 2;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        char *nl = buf;
        while (*nl && *nl != '\n') nl++;
        *nl = 0;
        printf("%s: %s\n", files[i], buf);
    }
    return 0;
}
