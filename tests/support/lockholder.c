/* A hostile holder for tests/serial/locked.rs: it keeps one loopback TCP socket's lock
 * for as long as it lives.
 *
 * A thread calls recv() on a socket with data queued into a page registered with
 * userfaultfd and never answers the fault: tcp_recvmsg holds the socket lock
 * (lock_sock) while it copies, so the copy sleeps with the lock held. Anything
 * that takes that lock (sock_diag's INET_DIAG_INFO via tcp_get_info, FIONREAD,
 * recv) sleeps uninterruptibly until this process dies. An unprivileged user can
 * do the same with FUSE in a user namespace; userfaultfd needs root here.
 *
 * It lives at most 30 seconds (alarm): a stuck lock must never outlive a test run,
 * since every sockleak on the host that reads this namespace's table would wait.
 *
 * Prints "ready <pid> <locked-inode> <locked-local-port> <free-inode>" once the
 * lock is held (a second socket, with data queued and no lock held, shows that
 * sockleak still reads the rest). Exits when stdin closes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static void die(const char *what) { perror(what); exit(2); }

static int locked_fd;
static char *trap;

static void *reader(void *arg) {
	(void)arg;
	/* Blocks forever inside the kernel's copy, with the socket lock held. */
	recv(locked_fd, trap, 64, 0);
	return NULL;
}

static unsigned long inode_of(int fd) {
	struct stat st;
	if (fstat(fd, &st)) die("fstat");
	return (unsigned long)st.st_ino;
}

/* A connected pair over 127.0.0.1; returns the client end, *srv the server end. */
static int pair(int *srv) {
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof a;
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (void *)&a, sizeof a) || listen(l, 4) || getsockname(l, (void *)&a, &len))
		die("listen");
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (void *)&a, sizeof a)) die("connect");
	*srv = accept(l, NULL, NULL);
	if (*srv < 0) die("accept");
	close(l);
	return c;
}

int main(void) {
	alarm(30);
	long page = sysconf(_SC_PAGESIZE);
	int uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
	if (uffd < 0) die("userfaultfd");
	struct uffdio_api api = {.api = UFFD_API};
	if (ioctl(uffd, UFFDIO_API, &api)) die("UFFDIO_API");
	trap = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (trap == MAP_FAILED) die("mmap");
	struct uffdio_register reg = {
		.range = {.start = (unsigned long)trap, .len = page},
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};
	if (ioctl(uffd, UFFDIO_REGISTER, &reg)) die("UFFDIO_REGISTER");

	int srv1, srv2;
	locked_fd = pair(&srv1);
	int free_fd = pair(&srv2);
	/* Data queued on both client ends: a peek has something to look at. */
	if (write(srv1, "HTTP/1.1 403 Forbidden\r\n\r\n", 26) != 26) die("write");
	if (write(srv2, "HTTP/1.1 403 Forbidden\r\n\r\n", 26) != 26) die("write");
	/* The servers hang up: the clients are in CLOSE_WAIT, as a leaked pool
	 * connection is (and as --peek requires: only FIN-received sockets). */
	shutdown(srv1, SHUT_WR);
	shutdown(srv2, SHUT_WR);
	usleep(50000);

	/* Everything that asks the socket is asked before the lock is taken (even
	 * getsockname locks the socket on current kernels). */
	struct sockaddr_in me;
	socklen_t len = sizeof me;
	if (getsockname(locked_fd, (void *)&me, &len)) die("getsockname");
	unsigned long locked_inode = inode_of(locked_fd), free_inode = inode_of(free_fd);

	pthread_t t;
	if (pthread_create(&t, NULL, reader, NULL)) die("pthread_create");
	/* The fault is queued on uffd once the reader sleeps with the lock held. */
	struct uffd_msg msg;
	if (read(uffd, &msg, sizeof msg) != sizeof msg) die("read uffd");

	printf("ready %d %lu %u %lu\n", getpid(), locked_inode, ntohs(me.sin_port), free_inode);
	fflush(stdout);
	char b;
	while (read(0, &b, 1) > 0) {
	}
	_exit(0);
}
