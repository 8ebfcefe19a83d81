#ifndef SANITIZE_CLONE_SHIMS_H
#define SANITIZE_CLONE_SHIMS_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/xattr.h>

/// Flags of openat2(2)'s `struct open_how.resolve` (linux/openat2.h).
#define SC_RESOLVE_NO_XDEV       0x01
#define SC_RESOLVE_NO_MAGICLINKS 0x02
#define SC_RESOLVE_NO_SYMLINKS   0x04
#define SC_RESOLVE_BENEATH       0x08
#define SC_RESOLVE_IN_ROOT       0x10

/// O_PATH from fcntl.h, hidden from Swift without _GNU_SOURCE.
#define SC_O_PATH 010000000

/// openat2(2) through syscall(2), which Swift cannot call because it is variadic.
/// Returns the new descriptor or -1 with errno set.
int sc_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);

/// The inode flags of an open file (FS_IOC_GETFLAGS); -1 with errno on failure.
int sc_inode_flags(int fd, long *flags);

/// True when FS_IMMUTABLE_FL or FS_APPEND_FL is set in `flags`.
int sc_flags_forbid_change(long flags);

/// pipe2(2) with O_CLOEXEC.
int sc_pipe_cloexec(int fds[2]);

/// Fills `buffer` with `length` bytes from the kernel's random generator (getrandom(2)).
int sc_random_bytes(void *buffer, size_t length);

/// The permanent hardware address of interface `name` (ETHTOOL_GPERMADDR) into `out`
/// (at least 32 bytes); returns its length, 0 when the driver has none, -1 with errno on failure.
int sc_permanent_mac(const char *name, unsigned char *out);

/// umount2(path, MNT_DETACH).
int sc_detach_mount(const char *path);

/// sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE): start writing the file's data back now, so a
/// later fsync of this or a sibling file finds it on its way (GNU extension, hidden from Swift).
int sc_start_writeback(int fd);

/// The errno of the calling thread, readable from Swift without Glibc's macro.
int sc_errno(void);

/// Interface flags (net/if.h) and the Ethernet hardware type (net/if_arp.h) the address probe reads.
#define SC_IFF_UP      0x1
#define SC_IFF_RUNNING 0x40
#define SC_IFF_NOARP   0x80
#define SC_ARPHRD_ETHER 1

/// socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0): a packet socket for ARP
/// payloads (the kernel adds and strips the Ethernet header) that hears nothing until bound.
int sc_arp_socket(void);

/// bind(2) of a packet socket to ETH_P_ARP on one interface, so it hears ARP on that link only.
int sc_arp_socket_bind(int fd, int interface_index);

/// sendto(2) of one ARP payload to the Ethernet broadcast address on interface `interface_index`.
/// Returns the bytes sent or -1 with errno set.
long sc_arp_send_broadcast(int fd, int interface_index, const void *packet, size_t length);

/// recvfrom(2) with MSG_DONTWAIT of one ARP payload; `*sent_by_us` is set to 1 when it is a copy
/// of a frame this host sent (PACKET_OUTGOING). Returns its length or -1 with errno (EAGAIN: none).
long sc_arp_receive(int fd, void *buffer, size_t capacity, int *sent_by_us);

/// The index of interface `name` (SIOCGIFINDEX), or -1 with errno (ENODEV: no such interface).
int sc_interface_index(int fd, const char *name);

/// The flags of interface `name` (SIOCGIFFLAGS: SC_IFF_UP, SC_IFF_RUNNING, ...) into `*flags`.
int sc_interface_flags(int fd, const char *name, int *flags);

/// Sets the flags of interface `name` (SIOCSIFFLAGS), e.g. to bring it up or down.
int sc_set_interface_flags(int fd, const char *name, int flags);

/// The hardware address of interface `name` (SIOCGIFHWADDR) into `out` (6 bytes); returns its
/// ARPHRD_ type (SC_ARPHRD_ETHER for Ethernet) or -1 with errno.
int sc_interface_hardware_address(int fd, const char *name, unsigned char out[6]);

/// Whether the driver of interface `name` reports a link (ETHTOOL_GLINK, the carrier as the
/// driver sees it now): 1 or 0, or -1 with errno (EOPNOTSUPP when the driver cannot tell).
int sc_interface_link_detected(int fd, const char *name);

/// setns(fd, CLONE_NEWNET): moves the calling thread (only it) into the network namespace `fd`.
int sc_enter_network_namespace(int fd);

#endif
