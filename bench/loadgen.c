/*
 * loadgen: build a known TCP table on loopback only, for the sockleak benchmark.
 *
 *   loadgen --sockets N [--idle-procs P --idle-fds F] [--port-base PORT]
 *           [--shard CONNS] [--unread K] --ready FILE
 *
 * N is the number of sockets the kernel table should hold (a loopback connection
 * is two of them). Connections are built in shards of at most --shard (5000)
 * connections; each shard has its own listeners (127.0.0.1 and ::1, on
 * PORT+shard) and ends up as two processes: a server holding the listeners and
 * the accepted sockets, and a client holding the connecting sockets. Every 4th
 * connection is half-closed by its server (shutdown(SHUT_WR), fd kept): the client
 * sits in CLOSE_WAIT, the server in FIN_WAIT2 (not orphaned, so it never times
 * out). Every 10th connection is IPv6 (::1), a fifth of those half-closed. IPv4 clients bind one of 250 source
 * addresses 127.0.<shard+1>.x first (IP_BIND_ADDRESS_NO_PORT), so 100k
 * connections never exhaust the ephemeral port range.
 *
 * --idle-procs P processes each hold F plain fds (half /dev/null, half pipes).
 *
 * --unread K: the server writes a 200-byte HTML body before its FIN on K of the
 * half-closed connections (spread over the shards): K client sockets sit in
 * CLOSE_WAIT with unread bytes, for `sockleak --peek` (bench/NOTES.md).
 *
 * When everything is built it writes FILE (atomically) with the plan:
 *   planned=<sockets> established=.. close_wait=.. fin_wait2=.. listen=..
 *   port_lo=.. port_hi=.. pids=<space separated>
 * and waits for SIGTERM/SIGINT. Then every child is stopped by pid; sockets are
 * closed with SO_LINGER 0 (RST), so no TIME_WAIT or orphan is left behind to
 * pollute the next run's table. Children also die with their parent
 * (PR_SET_PDEATHSIG).
 *
 * Loopback only: it never binds or connects anything outside 127.0.0.0/8 and ::1.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static void die(const char *what) {
    fprintf(stderr, "loadgen[%d]: %s: %s\n", getpid(), what, strerror(errno));
    exit(1);
}

static void raise_nofile(void) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

static void child_setup(void) {
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    struct sigaction sa = {0};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* Wait for SIGTERM, then reset every socket fd we hold and exit. */
static void hold_and_abort(const int *fds, int n, int ready_fd) {
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);
    if (write(ready_fd, "r", 1) != 1) die("ready pipe");
    close(ready_fd);
    while (!stop) sigsuspend(&old);
    struct linger lg = {1, 0};
    for (int i = 0; i < n; i++) {
        if (fds[i] < 0) continue;
        setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        close(fds[i]);
    }
    _exit(0);
}

static int listener(int family, int port) {
    int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) die("socket");
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc;
    if (family == AF_INET) {
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        rc = bind(s, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
        a.sin6_addr = in6addr_loopback;
        setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        rc = bind(s, (struct sockaddr *)&a, sizeof a);
    }
    if (rc < 0) die("bind listener");
    if (listen(s, 128) < 0) die("listen");
    return s;
}

/* Build one shard of `conns` connections; fork into server and client holders. */
static const char BODY[] =
    "<html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1>"
    "<p>forbidden forbidden forbidden forbidden forbidden forbidden forbidden "
    "forbidden forbidden forbidden forbidden forbidden</p></body></html>\n";

static void shard(int idx, int conns, int port, int unread, int ready_fd) {
    raise_nofile();
    int *srv = malloc(sizeof(int) * (conns + 2));
    int *cli = malloc(sizeof(int) * conns);
    if (!srv || !cli) die("malloc");
    int l4 = listener(AF_INET, port), l6 = listener(AF_INET6, port);
    int one = 1;
    for (int j = 0; j < conns; j++) {
        int v6 = j % 10 == 8; /* even: every 20th is also half-closed */
        int c = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (c < 0) die("client socket");
        int rc;
        if (v6) {
            struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons(port)};
            a.sin6_addr = in6addr_loopback;
            rc = connect(c, (struct sockaddr *)&a, sizeof a);
        } else {
            setsockopt(c, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
            struct sockaddr_in src = {.sin_family = AF_INET};
            src.sin_addr.s_addr = htonl(0x7f000000u | ((uint32_t)(idx + 1) << 8) | (1 + j % 250));
            if (bind(c, (struct sockaddr *)&src, sizeof src) < 0) die("bind client");
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            rc = connect(c, (struct sockaddr *)&a, sizeof a);
        }
        if (rc < 0) die("connect");
        int s = accept4(v6 ? l6 : l4, NULL, NULL, SOCK_CLOEXEC);
        if (s < 0) die("accept");
        if (j % 4 == 0 && unread > 0) {
            if (write(s, BODY, 200) != 200) die("write unread body");
            unread--;
        }
        if (j % 4 == 0 && shutdown(s, SHUT_WR) < 0) die("shutdown");
        srv[j] = s;
        cli[j] = c;
    }
    srv[conns] = l4;
    srv[conns + 1] = l6;
    pid_t pid = fork();
    if (pid < 0) die("fork");
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        for (int j = 0; j < conns + 2; j++) close(srv[j]);
        hold_and_abort(cli, conns, ready_fd);
    }
    for (int j = 0; j < conns; j++) close(cli[j]);
    /* Tell the parent the client holder's pid, then hold the server side. */
    char msg[32];
    int n = snprintf(msg, sizeof msg, "c%d\n", (int)pid);
    if (write(ready_fd, msg, n) != n) die("pid pipe");
    hold_and_abort(srv, conns + 2, ready_fd);
}

static void idle_proc(int nfds, int ready_fd) {
    raise_nofile();
    for (int i = 0; i < nfds;) {
        if (i % 2 == 0 && i + 1 < nfds) {
            int p[2];
            if (pipe(p) < 0) die("pipe");
            i += 2;
        } else {
            if (open("/dev/null", O_RDONLY) < 0) die("open /dev/null");
            i += 1;
        }
    }
    hold_and_abort(NULL, 0, ready_fd);
}

#define MAXPIDS 4096
static pid_t pids[MAXPIDS];
static int npids;

/* Stop every child and grandchild by pid, and reap them all (we are their
 * subreaper), so that when we exit every socket is gone. */
static void stop_all(void) {
    for (int i = 0; i < npids; i++) kill(pids[i], SIGTERM);
    while (wait(NULL) > 0 || errno == EINTR) {}
}

int main(int argc, char **argv) {
    long sockets = -1, idle_procs = 0, idle_fds = 0, port_base = 21000, shard_max = 5000, unread = 0;
    const char *ready = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--sockets")) sockets = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--idle-procs")) idle_procs = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--idle-fds")) idle_fds = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--port-base")) port_base = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--shard")) shard_max = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--unread")) unread = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--ready")) ready = argv[i + 1];
        else { fprintf(stderr, "loadgen: unknown flag %s\n", argv[i]); return 2; }
    }
    if (sockets < 4 || !ready || shard_max < 1 || idle_procs < 0 || idle_fds < 0) {
        fprintf(stderr, "usage: loadgen --sockets N (>= 4) --ready FILE [--idle-procs P --idle-fds F] [--port-base P] [--shard CONNS]\n");
        return 2;
    }
    /* table = 2 listeners per shard + 2 sockets per connection */
    long nshards = 1;
    while ((sockets - 2 * nshards) / 2 > nshards * shard_max) nshards++;
    long conns = (sockets - 2 * nshards) / 2;
    if (nshards + 2 * nshards + idle_procs >= MAXPIDS || port_base + nshards > 32767) {
        fprintf(stderr, "loadgen: too many shards/processes\n");
        return 2;
    }

    struct sigaction sa = {0};
    sa.sa_handler = on_term;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1);

    int rp[2];
    if (pipe(rp) < 0) die("pipe");
    long cw = 0, est = 0;
    for (long i = 0; i < nshards; i++) {
        long c = conns / nshards + (i < conns % nshards);
        long k = (c + 3) / 4; /* j % 4 == 0 for j in [0, c) */
        cw += k;
        est += c - k;
        pid_t p = fork();
        if (p < 0) die("fork");
        if (p == 0) {
            child_setup();
            close(rp[0]);
            long u = unread / nshards + (i < unread % nshards);
            shard((int)i, (int)c, (int)(port_base + i), (int)u, rp[1]);
        }
        pids[npids++] = p;
    }
    for (long i = 0; i < idle_procs; i++) {
        pid_t p = fork();
        if (p < 0) die("fork");
        if (p == 0) {
            child_setup();
            close(rp[0]);
            idle_proc((int)idle_fds, rp[1]);
        }
        pids[npids++] = p;
    }
    close(rp[1]);
    /* Each shard sends "c<pid>\n" plus two readiness bytes; each idle process one. */
    long want = 2 * nshards + idle_procs, got = 0;
    char buf[4096], line[64];
    int ll = 0;
    while (got < want && !stop) {
        ssize_t n = read(rp[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) { fprintf(stderr, "loadgen: a builder failed\n"); stop_all(); return 1; }
        for (ssize_t i = 0; i < n; i++) {
            char ch = buf[i];
            if (ll > 0) {
                if (ch == '\n') { line[ll] = 0; pids[npids++] = atoi(line + 1); ll = 0; }
                else if (ll < 63) line[ll++] = ch;
            } else if (ch == 'c') line[ll++] = ch;
            else if (ch == 'r') got++;
        }
    }
    if (stop) { stop_all(); return 1; }

    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", ready);
    FILE *f = fopen(tmp, "w");
    if (!f) die("ready file");
    fprintf(f, "planned=%ld established=%ld close_wait=%ld fin_wait2=%ld listen=%ld port_lo=%ld port_hi=%ld pids=",
            2 * nshards + 2 * conns, 2 * est, cw, cw, 2 * nshards, port_base, port_base + nshards - 1);
    fprintf(f, "%d", getpid());
    for (int i = 0; i < npids; i++) fprintf(f, " %d", (int)pids[i]);
    fprintf(f, "\n");
    if (fclose(f) != 0 || rename(tmp, ready) != 0) die("ready file");

    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);
    while (!stop) sigsuspend(&old);
    stop_all();
    return 0;
}
