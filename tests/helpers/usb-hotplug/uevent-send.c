/*
 * Tells udev's listeners that a USB interface was plugged in or out, as systemd-udevd does after
 * the kernel's event: one libudev message on the "udev" netlink group. For kantine's tests, so
 * that pcscd adds and removes a simulated USB reader as it would a real one. Needs root
 * (CAP_NET_ADMIN) and reaches only listeners in this network namespace.
 *
 *   uevent-send add|remove DEVPATH SUBSYSTEM DEVTYPE SEQNUM
 *
 * The message format (a header with the "libudev" prefix, magic and filter hashes in network
 * order, then KEY=VALUE strings each ending in NUL) is libudev's documented wire format; the hashes
 * are MurmurHash2 with seed 0, which the listeners' socket filters compare.
 */
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

struct header {
	char prefix[8];
	uint32_t magic;
	uint32_t header_size;
	uint32_t properties_off;
	uint32_t properties_len;
	uint32_t filter_subsystem_hash;
	uint32_t filter_devtype_hash;
	uint32_t filter_tag_bloom_hi;
	uint32_t filter_tag_bloom_lo;
};

#define UDEV_MONITOR_MAGIC 0xfeedcafe
#define UDEV_GROUP 2

static uint32_t murmur2(const char *text)
{
	const uint32_t m = 0x5bd1e995;
	const unsigned char *p = (const unsigned char *)text;
	size_t len = strlen(text);
	uint32_t h = (uint32_t)len;

	for (; len >= 4; len -= 4, p += 4) {
		uint32_t k = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;

		k *= m;
		k ^= k >> 24;
		k *= m;
		h *= m;
		h ^= k;
	}
	switch (len) {
	case 3:
		h ^= (uint32_t)p[2] << 16;
		/* fall through */
	case 2:
		h ^= (uint32_t)p[1] << 8;
		/* fall through */
	case 1:
		h ^= p[0];
		h *= m;
	}
	h ^= h >> 13;
	h *= m;
	h ^= h >> 15;
	return h;
}

int main(int argc, char **argv)
{
	char props[1024];
	int n;
	struct header hdr;
	struct sockaddr_nl to;
	struct iovec iov[2];
	struct msghdr msg;
	int fd;

	if (argc != 6 || (strcmp(argv[1], "add") && strcmp(argv[1], "remove"))) {
		fprintf(stderr, "usage: %s add|remove DEVPATH SUBSYSTEM DEVTYPE SEQNUM\n", argv[0]);
		return 2;
	}
	n = snprintf(props, sizeof(props), "ACTION=%s%cDEVPATH=%s%cSUBSYSTEM=%s%cDEVTYPE=%s%cSEQNUM=%s%c",
		argv[1], 0, argv[2], 0, argv[3], 0, argv[4], 0, argv[5], 0);
	if (n < 0 || (size_t)n >= sizeof(props)) {
		fprintf(stderr, "uevent-send: properties too long\n");
		return 2;
	}

	memset(&hdr, 0, sizeof(hdr));
	memcpy(hdr.prefix, "libudev", 8);
	hdr.magic = htonl(UDEV_MONITOR_MAGIC);
	hdr.header_size = sizeof(hdr);
	hdr.properties_off = sizeof(hdr);
	hdr.properties_len = (uint32_t)n;
	hdr.filter_subsystem_hash = htonl(murmur2(argv[3]));
	hdr.filter_devtype_hash = htonl(murmur2(argv[4]));

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	if (fd < 0) {
		perror("uevent-send: socket");
		return 1;
	}
	memset(&to, 0, sizeof(to));
	to.nl_family = AF_NETLINK;
	to.nl_groups = UDEV_GROUP;
	iov[0].iov_base = &hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = props;
	iov[1].iov_len = (size_t)n;
	memset(&msg, 0, sizeof(msg));
	msg.msg_name = &to;
	msg.msg_namelen = sizeof(to);
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	if (sendmsg(fd, &msg, 0) < 0) {
		perror("uevent-send: sendmsg");
		close(fd);
		return 1;
	}
	close(fd);
	return 0;
}
