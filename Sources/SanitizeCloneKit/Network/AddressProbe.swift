#if canImport(Glibc)
import Glibc
#endif
import CShims

/// Probes an IPv4 address on one interface as RFC 5227 describes, before it is assigned: "does
/// another host on this link already use it?".
///
/// The probe sends ARP Probes (RFC 5227 §2.1.1: sender address 0.0.0.0, so no host's ARP cache
/// learns anything from them) to the Ethernet broadcast address of the given interface, and of
/// that interface only. The address is in use when, from the start of probing until
/// `announceWait` after the last probe, the link carries an ARP request or reply whose sender
/// address is the probed one, or another host's ARP Probe for the same address (two clones
/// probing at once).
///
/// Side effect on the interface: one that is down is brought up for the probe (at boot the
/// service runs before the network is configured, so the NIC usually is down), given up to
/// `carrierWait` to report a carrier, and brought down again afterwards, when the probe fails as
/// well as when it succeeds. While it is up the kernel may send its own IPv6 link-local traffic
/// on that link. The probe runs in the network namespace of the calling thread.
public struct AddressProbe: Sendable {
    /// The delays and counts of a probe. `rfc5227` is the standard's; tests use shorter ones.
    public struct Timing: Sendable, Equatable {
        /// The longest random delay before the first probe (PROBE_WAIT), which keeps hosts that
        /// boot together from probing in step.
        public var probeWait: Duration
        /// How many probes are sent (PROBE_NUM).
        public var probeCount: Int
        /// The shortest random gap between two probes (PROBE_MIN).
        public var probeMin: Duration
        /// The longest random gap between two probes (PROBE_MAX).
        public var probeMax: Duration
        /// How long to keep listening after the last probe (ANNOUNCE_WAIT).
        public var announceWait: Duration
        /// How long an interface may take to report a carrier before probing starts anyway.
        /// Not from RFC 5227: a NIC just brought up needs a moment to negotiate its link.
        public var carrierWait: Duration

        /// A timing; `probeCount` is at least 1 and `probeMin` at most `probeMax`.
        public init(probeWait: Duration, probeCount: Int, probeMin: Duration, probeMax: Duration,
                    announceWait: Duration, carrierWait: Duration = .seconds(3)) {
            precondition(probeCount >= 1, "a probe sends at least one ARP Probe")
            precondition(probeMin <= probeMax, "PROBE_MIN must not exceed PROBE_MAX")
            self.probeWait = probeWait
            self.probeCount = probeCount
            self.probeMin = probeMin
            self.probeMax = probeMax
            self.announceWait = announceWait
            self.carrierWait = carrierWait
        }

        /// RFC 5227 §1.1: PROBE_WAIT 1 s, PROBE_NUM 3, PROBE_MIN 1 s, PROBE_MAX 2 s,
        /// ANNOUNCE_WAIT 2 s. A probe then takes 4 to 7 seconds, plus any wait for a carrier.
        public static let rfc5227 = Timing(
            probeWait: .seconds(1), probeCount: 3, probeMin: .seconds(1), probeMax: .seconds(2),
            announceWait: .seconds(2))
    }

    /// What a probe found out about an address.
    public enum Result: Sendable, Equatable {
        /// No host on the link answered for the address or probed for it.
        case free
        /// The host with this MAC address ("aa:bb:cc:dd:ee:ff", lowercase) uses or claims the address.
        case inUse(byMAC: String)
    }

    /// The name of the interface probed on, e.g. "eth0".
    public let interface: String
    /// The delays and counts used.
    public let timing: Timing

    /// A probe on `interface` (nothing is opened or sent until `probe(_:)`).
    public init(interface: String, timing: Timing = .rfc5227) {
        self.interface = interface
        self.timing = timing
    }

    /// Probes `address` (dotted IPv4, "192.0.2.10") on the interface and returns `.free` or who uses it.
    ///
    /// Blocks for the whole probe: 4 to 7 seconds with `rfc5227` timing, up to `carrierWait` more
    /// when the interface has no carrier yet, less when a conflict shows early.
    /// Throws `AddressProbeError` when the address is not an IPv4 address or the interface does
    /// not exist or is not Ethernet, and `SystemError` when a socket or interface call fails
    /// (e.g. `EPERM` without CAP_NET_RAW and CAP_NET_ADMIN). Brings a down interface up for the
    /// probe and down again afterwards (see the type's documentation).
    public func probe(_ address: String) throws -> Result {
        guard let target = Self.ipv4Bytes(address) else { throw AddressProbeError.notAnIPv4Address(address) }
        let socket = try PacketSocket(interface: interface)
        guard let index = try socket.interfaceIndex() else { throw AddressProbeError.noSuchInterface(interface) }
        let (hardwareType, ourMAC) = try socket.hardwareAddress()
        guard hardwareType == SC_ARPHRD_ETHER else {
            throw AddressProbeError.notEthernet(interface: interface, hardwareType: hardwareType)
        }

        let originalFlags = try socket.flags()
        let bringsUp = originalFlags & SC_IFF_UP == 0
        if bringsUp { try socket.setFlags(originalFlags | SC_IFF_UP, "bring up") }
        let outcome = Swift.Result<Result, any Error> {
            // Bound only now: a packet socket bound to a down interface keeps an ENETDOWN that
            // its first send then reports, although the interface is up by that time.
            try socket.bind(toIndex: index)
            try waitForCarrier(on: socket)
            return try listen(on: socket, interfaceIndex: index, ourMAC: ourMAC, target: target)
        }
        if bringsUp {
            // Only our change is undone; when that fails after a failed probe, the probe's error
            // is the one the caller needs first.
            do {
                try socket.setFlags(try socket.flags() & ~SC_IFF_UP, "bring down again")
            } catch {
                if case .success = outcome { throw error }
            }
        }
        return try outcome.get()
    }

    /// Waits until the interface has a carrier, for at most `carrierWait`: probes sent before
    /// are dropped, and the answers to them too. Asks through the socket rather than reading
    /// /sys/class/net/*/carrier, because sysfs shows the namespace it was mounted in, not the
    /// calling thread's.
    private func waitForCarrier(on socket: borrowing PacketSocket) throws {
        let start = Clock.monotonicNanoseconds()
        let limit = Self.nanoseconds(timing.carrierWait)
        while try !socket.hasCarrier() {
            if Clock.monotonicNanoseconds() &- start >= limit { return }
            usleep(20_000)
        }
    }

    /// Sends the probes on their random schedule and reads every ARP packet until
    /// `announceWait` after the last one, stopping at the first conflict.
    private func listen(on socket: borrowing PacketSocket, interfaceIndex: Int32,
                        ourMAC: [UInt8], target: [UInt8]) throws -> Result {
        let probe = Packet.probe(from: ourMAC, for: target).bytes
        var nextProbe = Clock.monotonicNanoseconds() + (try Self.randomNanoseconds(upTo: Self.nanoseconds(timing.probeWait)))
        var probesSent = 0
        var listenEnd: UInt64 = 0
        while true {
            let now = Clock.monotonicNanoseconds()
            if probesSent < timing.probeCount && now >= nextProbe {
                try socket.sendBroadcast(probe, interfaceIndex: interfaceIndex)
                probesSent += 1
                if probesSent < timing.probeCount {
                    let low = Self.nanoseconds(timing.probeMin), high = Self.nanoseconds(timing.probeMax)
                    nextProbe = now + low + (try Self.randomNanoseconds(upTo: high - low))
                } else {
                    listenEnd = now + Self.nanoseconds(timing.announceWait)
                }
                continue
            }
            let until = probesSent < timing.probeCount ? nextProbe : listenEnd
            if probesSent == timing.probeCount && now >= until { return .free }
            // Rounded up, so that poll never wakes just before the deadline and spins.
            let milliseconds = Int32(clamping: (until - now + 999_999) / 1_000_000)
            guard try socket.waitForPacket(milliseconds: milliseconds) else { continue }
            while let received = try socket.receive() {
                if let packet = Packet(received), let claimant = packet.conflictingMAC(for: target, ourMAC: ourMAC) {
                    return .inUse(byMAC: claimant.map { Hex.encode([$0]) }.joined(separator: ":"))
                }
            }
        }
    }

    /// The four bytes of a dotted-quad IPv4 unicast address, or nil for anything else.
    static func ipv4Bytes(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        // 0.0.0.0 is the probe's own sender address; broadcast and multicast have no owner on a link.
        guard bytes != [0, 0, 0, 0], bytes != [255, 255, 255, 255], !(224...239).contains(bytes[0]) else { return nil }
        return bytes
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        return UInt64(max(0, seconds)) * 1_000_000_000 + UInt64(max(0, attoseconds) / 1_000_000_000)
    }

    /// A uniformly random number of nanoseconds in 0...limit (the bias of one modulo over 64 bits
    /// is far below a nanosecond's worth).
    private static func randomNanoseconds(upTo limit: UInt64) throws -> UInt64 {
        guard limit > 0 else { return 0 }
        let value = try RandomBytes.generate(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return limit == .max ? value : value % (limit + 1)
    }
}

extension AddressProbe {
    /// An ARP packet for IPv4 over Ethernet (RFC 826), the only kind the probe sends or reads.
    struct Packet: Equatable {
        static let request: UInt16 = 1
        static let reply: UInt16 = 2

        var operation: UInt16
        var senderMAC: [UInt8]
        var senderIP: [UInt8]
        var targetMAC: [UInt8]
        var targetIP: [UInt8]

        /// An ARP Probe (RFC 5227 §2.1.1): a request from `mac` with sender address 0.0.0.0 and
        /// an all-zero target MAC, asking who has `address`.
        static func probe(from mac: [UInt8], for address: [UInt8]) -> Packet {
            Packet(operation: request, senderMAC: mac, senderIP: [0, 0, 0, 0],
                   targetMAC: [0, 0, 0, 0, 0, 0], targetIP: address)
        }

        init(operation: UInt16, senderMAC: [UInt8], senderIP: [UInt8], targetMAC: [UInt8], targetIP: [UInt8]) {
            self.operation = operation
            self.senderMAC = senderMAC
            self.senderIP = senderIP
            self.targetMAC = targetMAC
            self.targetIP = targetIP
        }

        /// Parses an ARP payload (no Ethernet header); nil unless it is Ethernet/IPv4 ARP.
        init?(_ bytes: [UInt8]) {
            guard bytes.count >= 28,
                  bytes[0] == 0x00, bytes[1] == 0x01,  // hardware type: Ethernet
                  bytes[2] == 0x08, bytes[3] == 0x00,  // protocol type: IPv4
                  bytes[4] == 6, bytes[5] == 4 else { return nil }
            operation = UInt16(bytes[6]) << 8 | UInt16(bytes[7])
            senderMAC = Array(bytes[8..<14])
            senderIP = Array(bytes[14..<18])
            targetMAC = Array(bytes[18..<24])
            targetIP = Array(bytes[24..<28])
        }

        /// The 28 bytes on the wire.
        var bytes: [UInt8] {
            [0x00, 0x01, 0x08, 0x00, 6, 4, UInt8(operation >> 8), UInt8(operation & 0xff)]
                + senderMAC + senderIP + targetMAC + targetIP
        }

        /// The MAC of the host this packet shows using or claiming `address`, or nil
        /// (RFC 5227 §2.1.1). Any request or reply sent from the address is a conflict, whoever
        /// sends it: a clone may share our MAC. Another host's probe for it is one too; a probe
        /// from our own MAC is our own, looped back.
        func conflictingMAC(for address: [UInt8], ourMAC: [UInt8]) -> [UInt8]? {
            guard operation == Self.request || operation == Self.reply else { return nil }
            if senderIP == address { return senderMAC }
            if operation == Self.request && senderIP == [0, 0, 0, 0] && targetIP == address && senderMAC != ourMAC {
                return senderMAC
            }
            return nil
        }
    }

    /// An AF_PACKET socket for ARP, closed when it goes out of scope. Each call names the
    /// interface in its error.
    private struct PacketSocket: ~Copyable {
        let descriptor: Int32
        let interface: String

        init(interface: String) throws {
            self.interface = interface
            descriptor = try System.openARPSocket(path: interface)
        }

        deinit { System.close(descriptor) }

        /// The interface's index, or nil when no interface has that name.
        func interfaceIndex() throws -> Int32? {
            try System.allowing([ENODEV]) { try System.interfaceIndex(interface, socket: descriptor) }
        }

        /// The interface's ARPHRD_ hardware type and its MAC address.
        func hardwareAddress() throws -> (type: Int32, mac: [UInt8]) {
            try System.interfaceHardwareAddress(interface, socket: descriptor)
        }

        /// Makes the socket hear and send on the interface only.
        func bind(toIndex index: Int32) throws {
            try System.bindARPSocket(descriptor, toInterface: index, path: interface)
        }

        /// The interface's flags (SIOCGIFFLAGS).
        func flags() throws -> Int32 {
            try System.interfaceFlags(interface, socket: descriptor)
        }

        /// True when the interface has a carrier and the kernel has taken note of it.
        ///
        /// IFF_RUNNING alone can mislead either way: the kernel's link watcher updates it up to
        /// a second after the carrier changes, and until it first looks at a new interface it
        /// reports one just brought up as running, with or without a carrier. The driver's own
        /// answer (ETHTOOL_GLINK) does not lag; drivers that cannot give one are trusted on
        /// IFF_RUNNING. Waiting for both also means the kernel has started the interface's
        /// transmit queue, which it does when it takes note of the carrier.
        func hasCarrier() throws -> Bool {
            guard try flags() & SC_IFF_RUNNING != 0 else { return false }
            let link = try System.allowing([EOPNOTSUPP]) {
                try System.interfaceLinkDetected(interface, socket: descriptor)
            }
            return link ?? true
        }

        /// Sets the interface's flags (SIOCSIFFLAGS); `operation` says what for, in the error.
        func setFlags(_ flags: Int32, _ operation: String) throws {
            try System.setInterfaceFlags(interface, to: flags, socket: descriptor, operation: operation)
        }

        func sendBroadcast(_ packet: [UInt8], interfaceIndex: Int32) throws {
            try System.sendARPBroadcast(descriptor, packet, interfaceIndex: interfaceIndex, path: interface)
        }

        /// Waits up to `milliseconds` for a packet; true when one is ready.
        func waitForPacket(milliseconds: Int32) throws -> Bool {
            try System.waitForInput(on: descriptor, milliseconds: milliseconds, operation: "wait for ARP packets on", path: interface)
        }

        /// The next ARP payload another host sent, or nil when none is waiting. Copies of our
        /// own frames are skipped.
        func receive() throws -> [UInt8]? {
            var buffer = [UInt8](repeating: 0, count: 256)
            while true {
                let received = try buffer.withUnsafeMutableBytes { raw in
                    try System.allowing([EAGAIN, EWOULDBLOCK]) {
                        try System.receiveARP(descriptor, into: raw, path: interface)
                    }
                }
                guard let received else { return nil }
                if !received.sentByUs { return Array(buffer[..<received.length]) }
            }
        }
    }
}

/// An address probe that could not be made, for a reason the caller can fix (not a failed
/// system call: those throw `SystemError`).
public struct AddressProbeError: Error, Equatable, CustomStringConvertible, Sendable {
    private enum Reason: Equatable, Sendable {
        case notAnIPv4Address(String)
        case noSuchInterface(String)
        case notEthernet(interface: String, hardwareType: Int32)
    }

    private let reason: Reason

    /// The address given is not a dotted IPv4 unicast address.
    public static func notAnIPv4Address(_ text: String) -> Self { Self(reason: .notAnIPv4Address(text)) }
    /// No interface has this name in the calling thread's network namespace.
    public static func noSuchInterface(_ name: String) -> Self { Self(reason: .noSuchInterface(name)) }
    /// The interface is not Ethernet, so ARP cannot probe on it.
    public static func notEthernet(interface: String, hardwareType: Int32) -> Self {
        Self(reason: .notEthernet(interface: interface, hardwareType: hardwareType))
    }

    /// One line naming the address or interface, and what to do about it.
    public var description: String {
        switch reason {
        case .notAnIPv4Address(let text):
            return "Cannot probe \"\(text)\": it is not an IPv4 unicast address (write it dotted, e.g. 192.0.2.10)"
        case .noSuchInterface(let name):
            return "Cannot probe on network interface \(name): no interface has that name (`ip link` lists them)"
        case .notEthernet(let name, let type):
            return "Cannot probe on network interface \(name): it is not Ethernet (hardware type \(type)), and ARP probing needs Ethernet (turn probing off for it)"
        }
    }
}
