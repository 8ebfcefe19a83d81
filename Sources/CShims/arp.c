// Packet-socket and interface calls for the RFC 5227 address probe (AddressProbe.swift).
// struct sockaddr_ll and struct ifreq are not visible to Swift, so each call that needs one
// lives here, one system call per function, returning -1 with errno set as the call does.
#define _GNU_SOURCE
#include "CShims.h"
#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_ether.h>
#include <linux/sockios.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/// Fills `request` with `name`, or fails with ENODEV when the name cannot be an interface's.
static int sc_interface_request(struct ifreq *request, const char *name) {
    memset(request, 0, sizeof *request);
    size_t length = strlen(name);
    if (length == 0 || length >= IFNAMSIZ) { errno = ENODEV; return -1; }
    memcpy(request->ifr_name, name, length);
    return 0;
}

int sc_arp_socket(void) {
    // Protocol 0: the socket hears nothing until bind(2) names ARP and one interface; opened
    // with ETH_P_ARP it would queue ARP from every interface in the meantime.
    return socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
}

int sc_arp_socket_bind(int fd, int interface_index) {
    struct sockaddr_ll address;
    memset(&address, 0, sizeof address);
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ARP);
    address.sll_ifindex = interface_index;
    return bind(fd, (struct sockaddr *)&address, sizeof address);
}

long sc_arp_send_broadcast(int fd, int interface_index, const void *packet, size_t length) {
    struct sockaddr_ll address;
    memset(&address, 0, sizeof address);
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ARP);
    address.sll_ifindex = interface_index;
    address.sll_halen = ETH_ALEN;
    memset(address.sll_addr, 0xff, ETH_ALEN);
    return (long)sendto(fd, packet, length, 0, (struct sockaddr *)&address, sizeof address);
}

long sc_arp_receive(int fd, void *buffer, size_t capacity, int *sent_by_us) {
    struct sockaddr_ll address;
    socklen_t address_length = sizeof address;
    memset(&address, 0, sizeof address);
    ssize_t n = recvfrom(fd, buffer, capacity, MSG_DONTWAIT, (struct sockaddr *)&address, &address_length);
    if (n >= 0) *sent_by_us = address.sll_pkttype == PACKET_OUTGOING;
    return (long)n;
}

int sc_interface_index(int fd, const char *name) {
    struct ifreq request;
    if (sc_interface_request(&request, name) < 0) return -1;
    if (ioctl(fd, SIOCGIFINDEX, &request) < 0) return -1;
    return request.ifr_ifindex;
}

int sc_interface_flags(int fd, const char *name, int *flags) {
    struct ifreq request;
    if (sc_interface_request(&request, name) < 0) return -1;
    if (ioctl(fd, SIOCGIFFLAGS, &request) < 0) return -1;
    *flags = (unsigned short)request.ifr_flags;
    return 0;
}

int sc_set_interface_flags(int fd, const char *name, int flags) {
    struct ifreq request;
    if (sc_interface_request(&request, name) < 0) return -1;
    request.ifr_flags = (short)flags;
    return ioctl(fd, SIOCSIFFLAGS, &request);
}

int sc_interface_hardware_address(int fd, const char *name, unsigned char out[6]) {
    struct ifreq request;
    if (sc_interface_request(&request, name) < 0) return -1;
    if (ioctl(fd, SIOCGIFHWADDR, &request) < 0) return -1;
    memcpy(out, request.ifr_hwaddr.sa_data, 6);
    return request.ifr_hwaddr.sa_family;
}

int sc_interface_link_detected(int fd, const char *name) {
    struct ethtool_value value = { .cmd = ETHTOOL_GLINK, .data = 0 };
    struct ifreq request;
    if (sc_interface_request(&request, name) < 0) return -1;
    request.ifr_data = (void *)&value;
    if (ioctl(fd, SIOCETHTOOL, &request) < 0) return -1;
    return value.data != 0;
}

int sc_enter_network_namespace(int fd) { return setns(fd, CLONE_NEWNET); }
