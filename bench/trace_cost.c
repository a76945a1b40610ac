/*
 * trace_cost: what the flight recorder (`sockleak trace`) costs loopback TCP, for
 * bench/trace-cost.sh. Not a test: numbers for bench/NOTES.md.
 *
 *   trace_cost rr N SIZE     N request/response round trips of SIZE bytes each way
 *                            on one loopback connection (TCP_NODELAY); prints the
 *                            microseconds per round trip.
 *   trace_cost bulk MIB      MIB mebibytes one way on one loopback connection;
 *                            prints MiB/s.
 *
 * Every round trip is the recorder's worst case: each message's first segment
 * follows data the other way, so all four segments of a round trip are recorded.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static void full(int fd, char *buf, size_t n, int writing)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = writing ? write(fd, buf + done, n - done) : read(fd, buf + done, n - done);
		if (r <= 0) {
			perror(writing ? "write" : "read");
			exit(1);
		}
		done += r;
	}
}

static void pair(int *client, int *server)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(l, (void *)&a, sizeof(a)) || listen(l, 1) || getsockname(l, (void *)&a, &len)) {
		perror("listen");
		exit(1);
	}
	*client = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(*client, (void *)&a, sizeof(a))) {
		perror("connect");
		exit(1);
	}
	*server = accept(l, NULL, NULL);
	setsockopt(*client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(*server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	close(l);
}

int main(int argc, char **argv)
{
	int c, s;
	if (argc < 3) {
		fprintf(stderr, "usage: trace_cost rr N SIZE | bulk MIB\n");
		return 2;
	}
	pair(&c, &s);
	if (strcmp(argv[1], "rr") == 0 && argc == 4) {
		long n = atol(argv[2]);
		size_t size = atol(argv[3]);
		char *buf = calloc(1, size);
		memcpy(buf, "GET /bench HTTP/1.1\r\n", size < 21 ? size : 21);
		if (fork() == 0) {
			close(c);
			for (long i = 0; i < n; i++) {
				full(s, buf, size, 0);
				full(s, buf, size, 1);
			}
			_exit(0);
		}
		close(s);
		double t = now();
		for (long i = 0; i < n; i++) {
			full(c, buf, size, 1);
			full(c, buf, size, 0);
		}
		t = now() - t;
		wait(NULL);
		printf("%.3f\n", t / n * 1e6);
	} else if (strcmp(argv[1], "bulk") == 0) {
		long mib = atol(argv[2]);
		size_t chunk = 1 << 20;
		char *buf = calloc(1, chunk);
		if (fork() == 0) {
			close(c);
			for (long i = 0; i < mib; i++)
				full(s, buf, chunk, 0);
			_exit(0);
		}
		close(s);
		double t = now();
		for (long i = 0; i < mib; i++)
			full(c, buf, chunk, 1);
		close(c);
		wait(NULL);
		t = now() - t;
		printf("%.1f\n", mib / t);
	} else {
		return 2;
	}
	return 0;
}
