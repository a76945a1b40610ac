/*
 * peek_pause.so (LD_PRELOAD): pause sockleak at its first peek, to make the
 * --peek race deterministic (tests/it/peek/live.rs). sockleak peeks with
 * recv(fd, .., MSG_PEEK | MSG_DONTWAIT) after FIONREAD said data is queued;
 * this recv() first touches $PEEK_PAUSE_FIRED, writes a line to the FIFO
 * $PEEK_PAUSE_GO and waits until the FIFO $PEEK_PAUSE_DONE is written and
 * closed (tests/support/peek_race.py drains its queue and takes an RST in
 * between), then does the real recv(). Every other call goes straight through.
 *
 * Inherited across fork (the peek may run in a forked child), where only
 * async-signal-safe calls are allowed: the real recv and the paths are taken
 * in the constructor, recv() itself uses open/read/write/close only.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

typedef ssize_t (*recv_fn)(int, void *, size_t, int);

static recv_fn real_recv;
static const char *go, *done, *fired_mark;
static atomic_int fired;

__attribute__((constructor)) static void init(void) {
    real_recv = (recv_fn)dlsym(RTLD_NEXT, "recv");
    go = getenv("PEEK_PAUSE_GO");
    done = getenv("PEEK_PAUSE_DONE");
    fired_mark = getenv("PEEK_PAUSE_FIRED");
}

static void pause_once(void) {
    if (!go || !done || !fired_mark || atomic_exchange(&fired, 1))
        return;
    int f = open(fired_mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (f >= 0)
        close(f);
    f = open(go, O_WRONLY | O_CLOEXEC);
    if (f >= 0) {
        (void)!write(f, "go\n", 3);
        close(f);
    }
    f = open(done, O_RDONLY | O_CLOEXEC);
    if (f >= 0) {
        char b[16];
        while (read(f, b, sizeof b) > 0) {
        }
        close(f);
    }
}

ssize_t recv(int fd, void *buf, size_t len, int flags) {
    if (flags == (MSG_PEEK | MSG_DONTWAIT))
        pause_once();
    return real_recv(fd, buf, len, flags);
}
