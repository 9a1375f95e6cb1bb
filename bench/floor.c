/* floor: the least a kept-alive or closed HTTP redirect costs the kernel on this machine, as a
 * row of bench/run.sh to measure Ricochet, nginx and HAProxy against. Not a server: it parses
 * nothing beyond counting request heads (each "\r\n\r\n" in what one recv returned), answers each
 * with the same fixed 301 (as long as the balancer's) and closes if the bytes said
 * "Connection: close".
 *
 * One thread, one level-triggered epoll instance, each connection added once. The listener
 * defers accepts until the client's first bytes arrive (TCP_DEFER_ACCEPT, as Ricochet's does),
 * so an accepted connection is read at once: a closed connection costs accept4, recv, send and
 * close, and is added to epoll only if it stays open.
 *
 *   cc -O2 -o floor bench/floor.c && ./floor PORT      (PORT 0: any free port)
 *
 * Prints "listening on http://127.0.0.1:PORT/" once ready.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

/* The balancer's answer, byte for byte in length (433 bytes), with a fixed date. */
static const char ANSWER[] =
    "HTTP/1.1 301 Moved Permanently\r\n"
    "Location: http://127.0.0.1:32933/index.html\r\n"
    "Cache-Control: no-store\r\n"
    "Content-Type: text/html; charset=utf-8\r\n"
    "Content-Length: 207\r\n"
    "Date: Mon, 07 Dec 2026 23:43:28 GMT\r\n"
    "Connection: keep-alive\r\n"
    "\r\n"
    "<!DOCTYPE html>\n"
    "<html>\n"
    "<head><title>301 Moved Permanently</title></head>\n"
    "<body>\n"
    "<h1>Moved Permanently</h1>\n"
    "<p>The document has moved <a href=\"http://127.0.0.1:32933/index.html\">here</a>.</p>\n"
    "</body>\n"
    "</html>\n";

static char buf[16384];

/* Answer what one recv brings; returns 0 if the connection stays open. */
static int serve(int fd) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EAGAIN) return 0;
    if (n <= 0) return -1;
    int heads = 0;
    for (ssize_t k = 3; k < n; k++)
        if (buf[k] == '\n' && buf[k - 1] == '\r' && buf[k - 2] == '\n' && buf[k - 3] == '\r') heads++;
    for (int k = 0; k < heads; k++)
        if (send(fd, ANSWER, sizeof ANSWER - 1, MSG_NOSIGNAL) < 0) return -1;
    return memmem(buf, n, "lose\r\n", 6) ? -1 : 0;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 0, one = 1, defer = 1;
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(ls, (void *)&a, sizeof a) || listen(ls, 1024) || getsockname(ls, (void *)&a, &len)) {
        perror("floor: listen");
        return 1;
    }
    setsockopt(ls, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer, sizeof defer);
    printf("listening on http://127.0.0.1:%d/\n", ntohs(a.sin_port));
    fflush(stdout);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = ls}, evs[256];
    epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
    for (;;) {
        int ready = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < ready; i++) {
            int fd = evs[i].data.fd;
            if (fd != ls) {
                if (serve(fd)) close(fd);
                continue;
            }
            int c;
            while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                if (serve(c)) {
                    close(c);
                    continue;
                }
                setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                struct epoll_event ce = {.events = EPOLLIN, .data.fd = c};
                epoll_ctl(ep, EPOLL_CTL_ADD, c, &ce);
            }
        }
    }
}
