// SPDX-License-Identifier: MIT OR GPL-2.0
//
// sockleak's flight recorder: for every TCP socket of the host, the first bytes and the
// time of the last message each way, keyed by the socket cookie (the `idiag_cookie`
// sock_diag reports, so user space joins a record to its row without any fd mapping).
//
// Attached as BPF_PROG_TYPE_CGROUP_SKB (egress and ingress) on the cgroup-v2 root.
// Only `struct __sk_buff` (stable UAPI) is read: no BTF, no CO-RE, so this one object
// loads on every kernel that has the helpers (5.7+, see NOTES-trace.md).
//
// The rule that keeps it cheap: a segment is recorded only when it carries payload and
// the socket's previous payload went the other way (or it is the socket's first). So a
// message's first segment is kept; retransmits and continuation segments are skipped.
// The recorder does not decide which side is the request: it keeps the last message per
// direction and which direction spoke first; user space decides (NOTES-trace.md).
//
// Rebuild with scripts/build-bpf.sh (the committed recorder.bpf.o must match it).

#include <linux/bpf.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

// Bytes kept of a message's first segment. Enough for an HTTP request line with its path,
// a PostgreSQL query's first keyword, a Redis command; user space parses, never prints raw.
#define CAPTURE 128

#define DIR_OUT 1 // egress: this socket sent it
#define DIR_IN 2  // ingress: this socket received it

// Legacy map definition (the "maps" section), so no BTF is needed; the layout is aya's
// and libbpf's `struct bpf_map_def`. max_entries is the default, overridden at load.
struct map_def {
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 map_flags;
	__u32 id;
	__u32 pinning;
};

struct message {
	__u64 ns;	  // bpf_ktime_get_ns (CLOCK_MONOTONIC) when the first segment passed
	__u32 len;	  // payload length of that first segment
	__u32 count;	  // messages seen this way on the socket (wraps)
	__u8 data[CAPTURE]; // its first min(len, CAPTURE) bytes; the rest is stale
	__u8 tail[8];	    // its last 8 bytes when len > CAPTURE (PostgreSQL's ReadyForQuery)
};

struct record {
	struct message out; // last message this socket sent
	struct message in;  // last message this socket received
	__u8 first_dir;	    // who spoke first: DIR_OUT or DIR_IN
	__u8 last_dir;	    // direction of the last payload segment seen
	__u8 pad[6];
};

struct map_def SEC("maps") SOCKLEAK_RECORDS = {
	.type = BPF_MAP_TYPE_LRU_HASH,
	.key_size = sizeof(__u64),
	.value_size = sizeof(struct record),
	.max_entries = 16384,
};

#define TCP_FIN 0x01
#define TCP_RST 0x04

// The segment's payload offset and TCP flags, read in place (direct packet access:
// the headers are in the linear part of every skb TCP builds or GRO merges).
// 0: read; 1: not a TCP segment we record; -1: headers not linear, read them with
// bpf_skb_load_bytes instead.
static __always_inline int headers_direct(struct __sk_buff *skb, __u32 *off, __u8 *flags)
{
	__u8 *data = (void *)(long)skb->data;
	__u8 *end = (void *)(long)skb->data_end;
	__u8 *th;
	__u32 l4;

	if (data + sizeof(struct iphdr) > end)
		return -1;
	if ((data[0] >> 4) == 4) {
		struct iphdr *ip = (void *)data;

		// A fragment has no TCP header of its own to read.
		if (ip->protocol != IPPROTO_TCP || (ip->frag_off & bpf_htons(0x3fff)))
			return 1;
		l4 = ip->ihl * 4;
		if (l4 < sizeof(struct iphdr))
			return 1;
	} else if ((data[0] >> 4) == 6) {
		struct ipv6hdr *ip6 = (void *)data;

		if (data + sizeof(*ip6) > end)
			return -1;
		// Extension headers are rare on TCP; such segments are not recorded.
		if (ip6->nexthdr != IPPROTO_TCP)
			return 1;
		l4 = sizeof(*ip6);
	} else {
		return 1;
	}
	th = data + l4;
	if (th + sizeof(struct tcphdr) > end)
		return -1;
	*off = l4 + (th[12] >> 4) * 4;
	*flags = th[13];
	return 0;
}

// The same with bpf_skb_load_bytes, for headers outside the linear part.
static __always_inline int headers_copied(struct __sk_buff *skb, __u32 *off, __u8 *flags)
{
	__u8 version, th[20];
	__u32 l4;

	if (bpf_skb_load_bytes(skb, 0, &version, 1))
		return 1;
	if ((version >> 4) == 4) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return 1;
		if (ip.protocol != IPPROTO_TCP || (ip.frag_off & bpf_htons(0x3fff)))
			return 1;
		l4 = ip.ihl * 4;
	} else if ((version >> 4) == 6) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return 1;
		if (ip6.nexthdr != IPPROTO_TCP)
			return 1;
		l4 = sizeof(ip6);
	} else {
		return 1;
	}
	if (bpf_skb_load_bytes(skb, l4, th, sizeof(th)))
		return 1;
	*off = l4 + (th[12] >> 4) * 4;
	*flags = th[13];
	return 0;
}

static __always_inline void record(struct __sk_buff *skb, __u8 dir)
{
	__u32 off = 0;
	__u8 flags = 0;
	__u64 len, cap;
	__u64 cookie;
	struct record *rec;
	struct message *msg;
	int r;

	r = headers_direct(skb, &off, &flags);
	if (r < 0)
		r = headers_copied(skb, &off, &flags);
	if (r)
		return;
	len = skb->len > off ? (__u64)skb->len - off : 0;
	// The owner closed it (our FIN) or it is gone (a reset): such a socket cannot be a
	// held leak, and forgetting it keeps the LRU for the sockets still open.
	if ((flags & TCP_RST) || ((flags & TCP_FIN) && dir == DIR_OUT)) {
		cookie = bpf_get_socket_cookie(skb);
		bpf_map_delete_elem(&SOCKLEAK_RECORDS, &cookie);
		return;
	}
	// Most segments of a bulk transfer's reverse path are bare ACKs: out first.
	if (!len)
		return;
	cookie = bpf_get_socket_cookie(skb);
	if (!cookie)
		return;

	rec = bpf_map_lookup_elem(&SOCKLEAK_RECORDS, &cookie);
	if (!rec) {
		struct record zero = {};

		bpf_map_update_elem(&SOCKLEAK_RECORDS, &cookie, &zero, BPF_NOEXIST);
		rec = bpf_map_lookup_elem(&SOCKLEAK_RECORDS, &cookie);
		if (!rec)
			return;
	}
	if (rec->last_dir == dir)
		return; // a continuation or a retransmit of the message already kept
	rec->last_dir = dir;
	if (!rec->first_dir)
		rec->first_dir = dir;
	msg = dir == DIR_OUT ? &rec->out : &rec->in;
	msg->ns = bpf_ktime_get_ns();
	msg->len = len;
	msg->count += 1;
	// User space reads min(len, CAPTURE) bytes, so an earlier longer message's tail
	// needs no clearing. 64-bit arithmetic throughout: a 32-bit value's bound checked
	// on a truncated copy is not the bound of the register passed to the helper.
	cap = len;
	if (cap > CAPTURE)
		cap = CAPTURE;
	if (cap > 0)
		bpf_skb_load_bytes(skb, off, msg->data, cap);
	// A response's end says more than its start for some protocols (PostgreSQL's
	// transaction status closes every response); within the capture, user space
	// reads it from the data.
	if (len > CAPTURE)
		bpf_skb_load_bytes(skb, skb->len - 8, msg->tail, 8);
}

SEC("cgroup_skb/egress")
int sockleak_egress(struct __sk_buff *skb)
{
	record(skb, DIR_OUT);
	return 1; // always let the segment pass: the recorder only watches
}

SEC("cgroup_skb/ingress")
int sockleak_ingress(struct __sk_buff *skb)
{
	record(skb, DIR_IN);
	return 1;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
