/* uname, sysinfo and getrusage: machine and resource state. */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
int main(void) {
    struct utsname u;
    struct sysinfo s;
    struct rusage r;
    uname(&u);
    sysinfo(&s);
    volatile unsigned long spin = 0;
    for (unsigned long i = 0; i < 3000000; i++) spin += i;
    getrusage(RUSAGE_SELF, &r);
    printf("uname=%s/%s/%s uptime=%ld freeram=%lu procs=%u utime=%ld.%06ld minflt=%ld\n", u.sysname, u.release,
           u.machine, s.uptime, s.freeram, s.procs, r.ru_utime.tv_sec, r.ru_utime.tv_usec, r.ru_minflt);
    return 0;
}
