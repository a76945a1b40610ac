/*
 * unixload: build a known unix socket table, for the `--proto all` benchmark.
 *
 *   unixload --sockets N --dir DIR --ready FILE [--shard CONNS]
 *
 * N is the number of connected unix stream sockets the table should gain (a
 * connection is two of them), built in shards of at most --shard (5000)
 * connections: each shard binds a listener at DIR/shard-K.sock, and ends up as two
 * processes, a server holding the listener and the accepted sockets and a client
 * holding the connecting ones. Every 4th connection's server side is closed
 * (the client stays connected to no one: sockleak's "(peer closed)").
 *
 * When everything is built it writes FILE (atomically) with
 *   planned=<sockets> listeners=<shards> pids=<space separated>
 * and waits for SIGTERM/SIGINT; children die with their parent
 * (PR_SET_PDEATHSIG). No network: unix sockets under DIR only.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static void die(const char *what) {
    fprintf(stderr, "unixload[%d]: %s: %s\n", getpid(), what, strerror(errno));
    exit(1);
}

static void raise_nofile(void) {
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

static void wait_for_stop(void) {
    while (!stop) pause();
    _exit(0);
}

/* One shard: a server child accepting `conns` connections on `path` (closing
 * every 4th), then this process's client child connecting them. Returns the two
 * pids through `pids`. */
static void shard(const char *path, long conns, pid_t pids[2]) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) {
        fprintf(stderr, "unixload: %s: longer than a unix socket path may be\n", path);
        exit(2);
    }
    memcpy(a.sun_path, path, strlen(path) + 1);
    unlink(path);
    int l = socket(AF_UNIX, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 4096) < 0)
        die("listen");
    int ready[2];
    if (pipe(ready) < 0) die("pipe");
    pids[0] = fork();
    if (pids[0] == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        raise_nofile();
        for (long i = 0; i < conns; i++) {
            int c = accept(l, NULL, NULL);
            if (c < 0) die("accept");
            if (i % 4 == 3) close(c);
        }
        if (write(ready[1], "x", 1) != 1) die("write");
        wait_for_stop();
    }
    pids[1] = fork();
    if (pids[1] == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        raise_nofile();
        close(l);
        for (long i = 0; i < conns; i++) {
            int c = socket(AF_UNIX, SOCK_STREAM, 0);
            if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof a) < 0) die("connect");
        }
        wait_for_stop();
    }
    close(l);
    char x;
    if (read(ready[0], &x, 1) != 1) die("server did not get ready");
    close(ready[0]);
    close(ready[1]);
}

int main(int argc, char **argv) {
    long sockets = 0, per = 5000;
    const char *dir = NULL, *ready = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--sockets")) sockets = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--dir")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--ready")) ready = argv[i + 1];
        else if (!strcmp(argv[i], "--shard")) per = atol(argv[i + 1]);
        else { fprintf(stderr, "unixload: unknown flag %s\n", argv[i]); return 2; }
    }
    if (sockets < 2 || !dir || !ready || per < 1) {
        fprintf(stderr, "usage: unixload --sockets N (>= 2) --dir DIR --ready FILE [--shard CONNS]\n");
        return 2;
    }
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    long conns = sockets / 2, shards = 0;
    static pid_t pids[2 * 1024];
    for (long done = 0; done < conns && shards < 1024; shards++) {
        long n = conns - done < per ? conns - done : per;
        char path[4096];
        snprintf(path, sizeof path, "%s/shard-%ld.sock", dir, shards);
        shard(path, n, &pids[2 * shards]);
        done += n;
    }
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", ready);
    FILE *f = fopen(tmp, "w");
    if (!f) die("ready file");
    /* Server sides closed (every 4th) are gone from the table. */
    long closed = conns / 4;
    fprintf(f, "planned=%ld listeners=%ld pids=", 2 * conns - closed + shards, shards);
    for (long i = 0; i < 2 * shards; i++) fprintf(f, "%s%d", i ? " " : "", pids[i]);
    fprintf(f, "\n");
    fclose(f);
    if (rename(tmp, ready) < 0) die("rename");
    while (!stop) pause();
    for (long i = 0; i < 2 * shards; i++) kill(pids[i], SIGTERM);
    while (wait(NULL) > 0) {}
    return 0;
}
