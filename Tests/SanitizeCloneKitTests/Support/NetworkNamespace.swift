import CShims
import Foundation

/// A network namespace made for one test with `ip netns add` under a unique name, so that links
/// and addresses a test configures never touch the host's namespace. `remove()` deletes it and
/// every interface in it.
///
/// Code runs inside it with `run(_:)`, on a thread of its own: network namespace membership
/// belongs to a thread in Linux, so the test's own threads stay in the host's namespace.
struct NetworkNamespace: Sendable {
    /// The name under /run/netns, as `ip -n` takes it.
    let name: String

    /// Creates a namespace named "<prefix>-<random>".
    init(prefix: String) throws {
        name = "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
        try HostCommand.succeed("ip", ["netns", "add", name])
    }

    /// Deletes the namespace; its interfaces (and a veth's peer elsewhere) go with it.
    func remove() {
        _ = try? HostCommand.run("ip", ["netns", "del", name])
    }

    /// Runs `ip -n <name> <arguments>`, which must succeed.
    @discardableResult
    func ip(_ arguments: [String]) throws -> CommandResult {
        try HostCommand.succeed("ip", ["-n", name] + arguments)
    }

    /// Runs `body` on a new thread that has entered this namespace (setns(2)), waits for it and
    /// returns its result or rethrows its error. The thread ends with `body`, taking its
    /// membership of the namespace with it.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) throws -> T {
        let outcome = Outcome<T>()
        let path = "/run/netns/\(name)"
        let thread = Thread {
            outcome.finish(Result {
                let descriptor = open(path, O_RDONLY | O_CLOEXEC)
                guard descriptor >= 0 else { throw FixtureError("cannot open \(path): \(String(cString: strerror(errno)))") }
                defer { close(descriptor) }
                guard sc_enter_network_namespace(descriptor) == 0 else {
                    throw FixtureError("cannot enter network namespace \(path): \(String(cString: strerror(sc_errno())))")
                }
                return try body()
            })
        }
        thread.start()
        return try outcome.wait().get()
    }
}

/// The result of a namespaced thread, handed to the thread waiting for it.
/// `@unchecked Sendable`: `value` is written once under `lock` before `done` is signalled, and
/// read only after the wait on `done`.
private final class Outcome<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private let done = DispatchSemaphore(value: 0)
    private var value: Result<T, any Error>?

    func finish(_ result: Result<T, any Error>) {
        lock.withLock { value = result }
        done.signal()
    }

    func wait() -> Result<T, any Error> {
        done.wait()
        return lock.withLock { value! }
    }
}


/// Two network namespaces joined by a veth pair: `prober` holds the interface the probe runs on,
/// `peer` the other end, which may hold an address. Nothing is configured in the host's namespace:
/// both ends are created from inside the namespaces (`ip -n`).
struct TwoHostLink: Sendable {
    static let proberInterface = "probe0"
    static let peerInterface = "peer0"

    let prober: NetworkNamespace
    let peer: NetworkNamespace

    /// `peerAddress` (e.g. "192.0.2.1/24") is given to the peer's end when not nil.
    init(peerAddress: String?, proberUp: Bool = true, peerUp: Bool = true) throws {
        prober = try NetworkNamespace(prefix: "sc-arp")
        do {
            peer = try NetworkNamespace(prefix: "sc-arp")
        } catch {
            prober.remove()
            throw error
        }
        do {
            try prober.ip(["link", "add", Self.proberInterface, "type", "veth", "peer", "name", Self.peerInterface, "netns", peer.name])
            if let peerAddress { try peer.ip(["addr", "add", peerAddress, "dev", Self.peerInterface]) }
            if peerUp { try peer.ip(["link", "set", Self.peerInterface, "up"]) }
            if proberUp { try prober.ip(["link", "set", Self.proberInterface, "up"]) }
        } catch {
            remove()
            throw error
        }
    }

    func remove() {
        prober.remove()
        peer.remove()
    }

    func peerMAC() throws -> String { try Self.mac(of: Self.peerInterface, in: peer) }
    func proberMAC() throws -> String { try Self.mac(of: Self.proberInterface, in: prober) }

    /// True when `ip link show` lists UP among the prober interface's flags.
    func proberIsUp() throws -> Bool {
        let line = try prober.ip(["-o", "link", "show", Self.proberInterface]).stdout
        guard let open = line.firstIndex(of: "<"), let close = line.firstIndex(of: ">") else {
            throw FixtureError("no flags in `ip link show`: \(line)")
        }
        return line[line.index(after: open)..<close].split(separator: ",").contains("UP")
    }

    /// The MAC `ip link show` reports for `interface` (lowercase, colon-separated).
    private static func mac(of interface: String, in namespace: NetworkNamespace) throws -> String {
        let words = try namespace.ip(["-o", "link", "show", interface]).stdout.split(whereSeparator: \.isWhitespace)
        guard let index = words.firstIndex(of: "link/ether"), index + 1 < words.count else {
            throw FixtureError("no link/ether in `ip link show \(interface)`")
        }
        return String(words[index + 1])
    }
}

/// A value shared between a test and a thread it started.
/// `@unchecked Sendable`: every access holds `lock`.
final class Locked<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }
    func set(_ newValue: Value) { lock.withLock { value = newValue } }
    func get() -> Value { lock.withLock { value } }
}
