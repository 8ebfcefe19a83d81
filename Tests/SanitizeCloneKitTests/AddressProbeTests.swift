import Foundation
@testable import SanitizeCloneKit
import Testing

/// The RFC 5227 probe a static address goes through before it is committed: on a real veth link
/// between two network namespaces made per test (never the host's namespace), with a peer that
/// may hold addresses. `.serialized`: one test injects a syscall failure, which is process-global.
@Suite("AddressProbe asks the link whether an IPv4 address is taken (RFC 5227)", .serialized)
struct AddressProbeTests {
    /// Probes 200 ms apart and 0.5 s of listening: a probe takes under a second.
    static let quick = AddressProbe.Timing(
        probeWait: .zero, probeCount: 3, probeMin: .milliseconds(200), probeMax: .milliseconds(200),
        announceWait: .milliseconds(500), carrierWait: .seconds(3))

    @Test("an address the other host holds is in use, by that host's MAC", .requiresRoot)
    func addressHeldByPeer() throws {
        let link = try TwoHostLink(peerAddress: "192.0.2.1/24")
        defer { link.remove() }
        let result = try link.prober.run { try AddressProbe(interface: TwoHostLink.proberInterface, timing: Self.quick).probe("192.0.2.1") }
        #expect(result == .inUse(byMAC: try link.peerMAC()))
        #expect(try link.proberIsUp(), "an interface that was up is left up")
    }

    @Test("an address nobody on the link holds is free", .requiresRoot)
    func freeAddress() throws {
        let link = try TwoHostLink(peerAddress: "192.0.2.1/24")
        defer { link.remove() }
        let start = Date()
        let result = try link.prober.run { try AddressProbe(interface: TwoHostLink.proberInterface, timing: Self.quick).probe("192.0.2.2") }
        #expect(result == .free)
        #expect(Date().timeIntervalSince(start) >= 0.9, "probes 0.4 s apart in all, then 0.5 s of listening")
    }

    @Test("with RFC 5227's timing a free address is known free only after the waits the RFC asks for (at least 4 s)", .requiresRoot)
    func rfcTimingEndToEnd() throws {
        let link = try TwoHostLink(peerAddress: "192.0.2.1/24")
        defer { link.remove() }
        let start = Date()
        let result = try link.prober.run { try AddressProbe(interface: TwoHostLink.proberInterface).probe("192.0.2.2") }
        let seconds = Date().timeIntervalSince(start)
        #expect(result == .free)
        // Never earlier than 0 s + two gaps of at least 1 s + 2 s of listening. (How long it takes
        // at most depends on the machine's load: that is for a benchmark, not a test.)
        #expect(seconds >= 4, "0–1 s, two gaps of 1–2 s, then 2 s of listening; took \(seconds) s")
    }

    @Test("an interface that was down is brought up for the probe and is down again afterwards", .requiresRoot)
    func downInterfaceRestored() throws {
        let link = try TwoHostLink(peerAddress: "192.0.2.1/24", proberUp: false)
        defer { link.remove() }
        #expect(try !link.proberIsUp())
        let result = try link.prober.run { try AddressProbe(interface: TwoHostLink.proberInterface, timing: Self.quick).probe("192.0.2.1") }
        #expect(result == .inUse(byMAC: try link.peerMAC()), "the probe went out on the link it brought up")
        #expect(try !link.proberIsUp())
    }

    @Test("an interface brought up is down again when the probe fails half-way", .requiresRoot)
    func downInterfaceRestoredAfterFailure() throws {
        // No address on the peer: nothing on the link can answer before the failing send.
        let link = try TwoHostLink(peerAddress: nil, proberUp: false)
        defer { link.remove() }
        let error = try #require(throws: SystemError.self) {
            try link.prober.run {
                // The first probe cannot be sent: the interface is up by then and must go down again.
                Syscall.injectFailure(.send, onCall: 1, errno: EIO)
                defer { Syscall.clearInjectedFailure(.send) }
                return try AddressProbe(interface: TwoHostLink.proberInterface, timing: Self.quick).probe("192.0.2.1")
            }
        }
        #expect(error.code == EIO && error.description.contains(TwoHostLink.proberInterface), "\(error)")
        #expect(try !link.proberIsUp())
    }

    @Test("an interface without a carrier is probed once the carrier wait is over, and put back down", .requiresRoot)
    func noCarrier() throws {
        let link = try TwoHostLink(peerAddress: "192.0.2.1/24", proberUp: false, peerUp: false)
        defer { link.remove() }
        var shortCarrierWait = Self.quick
        shortCarrierWait.carrierWait = .milliseconds(300)
        let timing = shortCarrierWait
        let start = Date()
        let result = try link.prober.run { try AddressProbe(interface: TwoHostLink.proberInterface, timing: timing).probe("192.0.2.1") }
        #expect(result == .free, "nobody can answer on a link without carrier")
        #expect(Date().timeIntervalSince(start) >= 1.2, "0.3 s of waiting for a carrier, then 0.9 s of probing")
        #expect(try !link.proberIsUp())
    }

    @Test("of two hosts probing for the same address at once, one at least sees the other's probe", .requiresRoot)
    func simultaneousProbes() throws {
        let link = try TwoHostLink(peerAddress: nil)
        defer { link.remove() }
        let proberMAC = try link.proberMAC(), peerMAC = try link.peerMAC()
        let peerOutcome = Locked<Result<AddressProbe.Result, any Error>?>(nil)
        let peerDone = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            peerOutcome.set(Result {
                try link.peer.run { try AddressProbe(interface: TwoHostLink.peerInterface, timing: Self.quick).probe("192.0.2.7") }
            })
            peerDone.signal()
        }
        let proberResult = try link.prober.run { try AddressProbe(interface: TwoHostLink.proberInterface, timing: Self.quick).probe("192.0.2.7") }
        peerDone.wait()
        let peerResult = try #require(try peerOutcome.get()?.get())
        // The one that sees the other's probe first stops probing (RFC 5227 §2.1.1): the other
        // may have sent its last probe before the first one listened, and then finds it free.
        #expect(proberResult == .inUse(byMAC: peerMAC) || peerResult == .inUse(byMAC: proberMAC),
                "prober: \(proberResult), peer: \(peerResult)")
        #expect(proberResult == .free || proberResult == .inUse(byMAC: peerMAC))
        #expect(peerResult == .free || peerResult == .inUse(byMAC: proberMAC))
    }

    @Test("a missing interface is refused with an error that names it", .requiresRoot)
    func missingInterface() throws {
        let namespace = try NetworkNamespace(prefix: "sc-arp")
        defer { namespace.remove() }
        let error = try #require(throws: AddressProbeError.self) {
            try namespace.run { try AddressProbe(interface: "nosuch0", timing: Self.quick).probe("192.0.2.1") }
        }
        #expect(error == .noSuchInterface("nosuch0"))
        #expect(error.description.contains("nosuch0"), "\(error)")
    }

    @Test("a mistyped address is refused before anything is opened or sent",
          arguments: ["192.0.2", "192.0.2.256", "192.0.2.1/24", "192.0.2.x", " 192.0.2.1", "0.0.0.0", "255.255.255.255", "224.0.0.1", ""])
    func mistypedAddress(_ text: String) throws {
        let error = try #require(throws: AddressProbeError.self) {
            try AddressProbe(interface: "nosuch0").probe(text)
        }
        #expect(error == .notAnIPv4Address(text))
    }

    @Test("the default timing is RFC 5227's: PROBE_WAIT 1 s, 3 probes 1 to 2 s apart, ANNOUNCE_WAIT 2 s")
    func defaultTimingIsTheRFCs() {
        let timing = AddressProbe(interface: "eth0").timing
        #expect(timing == .rfc5227)
        #expect(timing.probeWait == .seconds(1))
        #expect(timing.probeCount == 3)
        #expect(timing.probeMin == .seconds(1))
        #expect(timing.probeMax == .seconds(2))
        #expect(timing.announceWait == .seconds(2))
    }

    // MARK: - What counts as a conflict (RFC 5227 §2.1.1), packet by packet

    static let ours: [UInt8] = [0x02, 0, 0, 0, 0, 0x01]
    static let theirs: [UInt8] = [0x02, 0, 0, 0, 0, 0x02]
    static let probed: [UInt8] = [192, 0, 2, 7]

    @Test("a reply or request sent from the probed address is a conflict, even from our own MAC (a clone's)")
    func packetFromTheAddress() {
        for operation in [AddressProbe.Packet.request, AddressProbe.Packet.reply] {
            for sender in [Self.theirs, Self.ours] {
                let packet = AddressProbe.Packet(operation: operation, senderMAC: sender, senderIP: Self.probed,
                                                 targetMAC: [0, 0, 0, 0, 0, 0], targetIP: [192, 0, 2, 9])
                #expect(packet.conflictingMAC(for: Self.probed, ourMAC: Self.ours) == sender)
            }
        }
    }

    @Test("another host's probe for the address is a conflict; a probe from our own MAC is ours, looped back")
    func probesForTheAddress() {
        let theirProbe = AddressProbe.Packet.probe(from: Self.theirs, for: Self.probed)
        #expect(theirProbe.conflictingMAC(for: Self.probed, ourMAC: Self.ours) == Self.theirs)
        let ourProbe = AddressProbe.Packet.probe(from: Self.ours, for: Self.probed)
        #expect(ourProbe.conflictingMAC(for: Self.probed, ourMAC: Self.ours) == nil)
    }

    @Test("a host asking who has the address, from an address of its own, is no conflict")
    func ordinaryRequest() {
        let request = AddressProbe.Packet(operation: AddressProbe.Packet.request, senderMAC: Self.theirs, senderIP: [192, 0, 2, 9],
                                          targetMAC: [0, 0, 0, 0, 0, 0], targetIP: Self.probed)
        #expect(request.conflictingMAC(for: Self.probed, ourMAC: Self.ours) == nil)
    }

    @Test("a probe is 28 bytes of Ethernet/IPv4 ARP with sender address 0.0.0.0, and parses back")
    func probeOnTheWire() {
        let probe = AddressProbe.Packet.probe(from: Self.ours, for: Self.probed)
        #expect(probe.bytes == [0, 1, 8, 0, 6, 4, 0, 1] + Self.ours + [0, 0, 0, 0] + [0, 0, 0, 0, 0, 0] + Self.probed)
        #expect(AddressProbe.Packet(probe.bytes) == probe)
        #expect(AddressProbe.Packet(Array(probe.bytes.prefix(27))) == nil)
    }
}
