/*
 * Preloaded into the test's pcscd (LD_PRELOAD): every connection the vpcd driver accepts from a
 * card twin gets TCP_NODELAY. vpcd sends each APDU's 2-byte length and its payload as two writes;
 * with Nagle's algorithm on, the payload waits for the twin's (delayed) ACK of the length, about
 * 40 ms per APDU. A real reader's radio has no such stall; nothing else about pcscd or vpcd changes.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

typedef int (*accept_fn)(int, struct sockaddr *, socklen_t *);

int accept(int fd, struct sockaddr *addr, socklen_t *len) {
  static accept_fn real;
  if (!real) real = (accept_fn)dlsym(RTLD_NEXT, "accept");
  int client = real(fd, addr, len);
  if (client >= 0) {
    int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  return client;
}
