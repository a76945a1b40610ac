/*
 * floor: the least work that answers "which process holds which TCP socket".
 *
 * One NETLINK_SOCK_DIAG dump per address family (every state, no extensions), the
 * inodes kept in a sorted array, then one pass over /proc/<pid>/fd with readlinkat
 * relative to the directory fd (one readlink per fd), each socket inode looked up
 * by binary search. Single-threaded, no output beyond three numbers. This is the
 * baseline the sockleak benchmark compares against (bench/compare.sh).
 *
 * Prints: sockets=<table size> attributed=<sockets with inode held by a pid>
 *         fds=<fds read>
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static uint64_t *inodes;
static size_t ninodes, cap, table;

static void dump(int nl, int family, char *buf, size_t buflen) {
    struct {
        struct nlmsghdr h;
        struct inet_diag_req_v2 r;
    } req = {0};
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.r.sdiag_family = family;
    req.r.sdiag_protocol = IPPROTO_TCP;
    req.r.idiag_states = 0xffffffff;
    if (send(nl, &req, sizeof req, 0) < 0) { perror("send"); exit(1); }
    for (;;) {
        ssize_t n = recv(nl, buf, buflen, 0);
        if (n < 0) { perror("recv"); exit(1); }
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE) return;
            if (h->nlmsg_type == NLMSG_ERROR) { fprintf(stderr, "netlink error\n"); exit(1); }
            struct inet_diag_msg *m = NLMSG_DATA(h);
            table++;
            if (m->idiag_inode == 0) continue;
            if (ninodes == cap) {
                cap = cap ? cap * 2 : 4096;
                inodes = realloc(inodes, cap * sizeof *inodes);
                if (!inodes) { perror("realloc"); exit(1); }
            }
            inodes[ninodes++] = m->idiag_inode;
        }
    }
}

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(void) {
    int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0) { perror("socket"); return 1; }
    int rcv = 4 << 20;
    setsockopt(nl, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
    static char buf[256 << 10];
    dump(nl, AF_INET, buf, sizeof buf);
    dump(nl, AF_INET6, buf, sizeof buf);
    close(nl);
    qsort(inodes, ninodes, sizeof *inodes, cmp);

    /* One bit per table inode: held by some process. */
    unsigned char *held = calloc(ninodes + 1, 1);
    size_t fds = 0;
    DIR *proc = opendir("/proc");
    if (!proc) { perror("/proc"); return 1; }
    struct dirent *pe;
    char path[300], link[64];
    while ((pe = readdir(proc))) {
        if (pe->d_name[0] < '1' || pe->d_name[0] > '9') continue;
        snprintf(path, sizeof path, "/proc/%s/fd", pe->d_name);
        int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) continue;
        DIR *d = fdopendir(dfd);
        if (!d) { close(dfd); continue; }
        struct dirent *fe;
        while ((fe = readdir(d))) {
            if (fe->d_name[0] == '.') continue;
            ssize_t n = readlinkat(dfd, fe->d_name, link, sizeof link - 1);
            if (n <= 0) continue;
            fds++;
            if (n < 10 || memcmp(link, "socket:[", 8) != 0) continue;
            uint64_t ino = 0;
            for (ssize_t i = 8; i < n && link[i] != ']'; i++) ino = ino * 10 + (link[i] - '0');
            size_t lo = 0, hi = ninodes;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (inodes[mid] < ino) lo = mid + 1; else hi = mid;
            }
            if (lo < ninodes && inodes[lo] == ino) held[lo] = 1;
        }
        closedir(d);
    }
    closedir(proc);
    size_t attributed = 0;
    for (size_t i = 0; i < ninodes; i++) attributed += held[i];
    printf("sockets=%zu attributed=%zu fds=%zu\n", table, attributed, fds);
    return 0;
}
