#if canImport(Glibc)
import Glibc
#endif
import CShims

/// ARP packet sockets and network interface ioctls; `path` names the interface in errors.
extension System {
    // MARK: Packet sockets

    /// socket(2) AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK (sc_arp_socket): a socket for
    /// ARP payloads that hears nothing until bound.
    static func openARPSocket(operation: String = "open an ARP socket for", path: String) throws(SystemError) -> Int32 {
        try Syscall.call(.socket, operation, path: path) { sc_arp_socket() }
    }

    /// bind(2) of a packet socket to ETH_P_ARP on the interface `interfaceIndex`
    /// (sc_arp_socket_bind), so it hears ARP on that link only.
    static func bindARPSocket(_ descriptor: Int32, toInterface interfaceIndex: Int32,
                              operation: String = "bind an ARP socket to", path: String) throws(SystemError) {
        try Syscall.call(.socket, operation, path: path) { sc_arp_socket_bind(descriptor, interfaceIndex) }
    }

    /// sendto(2) of one ARP payload to the Ethernet broadcast address on `interfaceIndex`
    /// (sc_arp_send_broadcast).
    static func sendARPBroadcast(_ descriptor: Int32, _ packet: [UInt8], interfaceIndex: Int32,
                                 operation: String = "send an ARP probe on", path: String) throws(SystemError) {
        try Syscall.call(.send, operation, path: path) {
            packet.withUnsafeBytes { sc_arp_send_broadcast(descriptor, interfaceIndex, $0.baseAddress, $0.count) }
        }
    }

    /// poll(2) for input on `descriptor` for up to `milliseconds`: true when some is ready.
    static func waitForInput(on descriptor: Int32, milliseconds: Int32, operation: String = "wait for packets on",
                             path: String) throws(SystemError) -> Bool {
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        return try Syscall.call(.receive, operation, path: path) { poll(&entry, 1, milliseconds) } > 0
    }

    /// recvfrom(2) with MSG_DONTWAIT of one ARP payload into `buffer` (sc_arp_receive): its length
    /// and whether it is a copy of a frame this host sent (PACKET_OUTGOING). Throws EAGAIN when
    /// none is waiting.
    static func receiveARP(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer,
                           operation: String = "receive ARP packets on", path: String) throws(SystemError) -> (length: Int, sentByUs: Bool) {
        var sentByUs: Int32 = 0
        let length = try Syscall.call(.receive, operation, path: path) {
            sc_arp_receive(descriptor, buffer.baseAddress, buffer.count, &sentByUs)
        }
        return (length, sentByUs != 0)
    }

    // MARK: Interfaces

    /// ioctl(SIOCGIFINDEX) (sc_interface_index): the index of interface `name`. Throws ENODEV when
    /// no interface has that name.
    static func interfaceIndex(_ name: String, socket descriptor: Int32,
                               operation: String = "look up the network interface") throws(SystemError) -> Int32 {
        try Syscall.call(.ioctl, operation, path: name) { sc_interface_index(descriptor, name) }
    }

    /// ioctl(SIOCGIFHWADDR) (sc_interface_hardware_address): the interface's ARPHRD_ hardware
    /// type and its 6-byte address.
    static func interfaceHardwareAddress(_ name: String, socket descriptor: Int32,
                                         operation: String = "read the MAC address of") throws(SystemError) -> (type: Int32, mac: [UInt8]) {
        var mac = [UInt8](repeating: 0, count: 6)
        let type = try Syscall.call(.ioctl, operation, path: name) { sc_interface_hardware_address(descriptor, name, &mac) }
        return (type, mac)
    }

    /// ioctl(SIOCGIFFLAGS) (sc_interface_flags): the interface's flags (SC_IFF_UP, …).
    static func interfaceFlags(_ name: String, socket descriptor: Int32, operation: String = "read the flags of") throws(SystemError) -> Int32 {
        var flags: Int32 = 0
        try Syscall.call(.ioctl, operation, path: name) { sc_interface_flags(descriptor, name, &flags) }
        return flags
    }

    /// ioctl(SIOCSIFFLAGS) (sc_set_interface_flags): sets the interface's flags, e.g. to bring it
    /// up or down.
    static func setInterfaceFlags(_ name: String, to flags: Int32, socket descriptor: Int32, operation: String) throws(SystemError) {
        try Syscall.call(.ioctl, operation, path: name) { sc_set_interface_flags(descriptor, name, flags) }
    }

    /// ioctl(SIOCETHTOOL, ETHTOOL_GLINK) (sc_interface_link_detected): whether the driver reports
    /// a link now. Throws EOPNOTSUPP when the driver cannot tell.
    static func interfaceLinkDetected(_ name: String, socket descriptor: Int32,
                                      operation: String = "read the link state of") throws(SystemError) -> Bool {
        try Syscall.call(.ioctl, operation, path: name) { sc_interface_link_detected(descriptor, name) } == 1
    }

    /// ioctl(SIOCETHTOOL, ETHTOOL_GPERMADDR) on a socket of its own (sc_permanent_mac): the
    /// burned-in hardware address of interface `name`, empty when the driver has none.
    static func permanentHardwareAddress(_ name: String, operation: String = "read the permanent MAC address of") throws(SystemError) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 32)
        let length = try bytes.withUnsafeMutableBufferPointer { (buffer) throws(SystemError) -> Int32 in
            try Syscall.call(.ioctl, operation, path: name) { sc_permanent_mac(name, buffer.baseAddress) }
        }
        return Array(bytes[0..<Int(length)])
    }
}
