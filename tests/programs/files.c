/* stat results and directory listings of files this run creates with
 * time-dependent names, then the mmap address the kernel picks. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc < 2) return 2;
    const char *dir = argv[1];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char path[4096];
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/f%ld-%d", dir, ts.tv_nsec, i);
        FILE *f = fopen(path, "w");
        if (!f) return 3;
        fprintf(f, "%d", i);
        fclose(f);
    }
    DIR *d = opendir(dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        stat(path, &st);
        printf("%s ino=%lu mtime=%ld.%09ld\n", e->d_name, (unsigned long)st.st_ino, st.st_mtim.tv_sec,
               st.st_mtim.tv_nsec);
        unlink(path);
    }
    closedir(d);
    void *p = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int local;
    printf("mmap=%p stack=%p\n", p, (void *)&local);
    return 0;
}
