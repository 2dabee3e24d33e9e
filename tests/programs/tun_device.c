/* A TUN interface (/dev/net/tun, which needs CAP_NET_ADMIN): TUNSETIFF
 * names the new interface in the struct it is given, TUNGETIFF reads it
 * back. The recorder refused both ioctls as unknown. */
#include "family.h"
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <unistd.h>

int main(void) {
  int fd = open("/dev/net/tun", O_RDWR);
  if (fd < 0) {
    printf("no TUN device here (%s): %llx\n", strerror(errno), random_value());
    return 0;
  }
  struct ifreq request;
  memset(&request, 0, sizeof request);
  request.ifr_flags = IFF_TUN | IFF_NO_PI;
  snprintf(request.ifr_name, IFNAMSIZ, "rp%%d");
  if (ioctl(fd, TUNSETIFF, &request) != 0) {
    printf("TUNSETIFF refused (%s): %llx\n", strerror(errno), random_value());
    return 0;
  }
  struct ifreq back;
  memset(&back, 0, sizeof back);
  CHECK(ioctl(fd, TUNGETIFF, &back) == 0);
  CHECK(strcmp(back.ifr_name, request.ifr_name) == 0);
  unsigned int features = 0;
  CHECK(ioctl(fd, TUNGETFEATURES, &features) == 0);
  CHECK(features & IFF_TUN);
  printf("interface %s made: %llx\n", request.ifr_name, random_value());
  close(fd);
  return 0;
}
