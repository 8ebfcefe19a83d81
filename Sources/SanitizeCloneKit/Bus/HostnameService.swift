/// systemd-hostnamed (`org.freedesktop.hostname1` at `/org/freedesktop/hostname1`) on the system bus.
///
/// Every call passes `interactive = false`: sanitize-clone runs unattended, so polkit must
/// answer at once rather than prompt.
public struct HostnameService: Sendable {
    /// The bus name hostnamed owns.
    public static let service = "org.freedesktop.hostname1"
    /// The object hostnamed serves.
    public static let path = "/org/freedesktop/hostname1"
    /// The interface of its methods and properties.
    public static let interface = "org.freedesktop.hostname1"

    /// The bus the calls go through.
    public let bus: SystemBus
    /// How long each call waits for hostnamed's reply.
    public let timeout: Duration

    /// hostnamed on `bus`; nothing is sent until a method is called.
    public init(bus: SystemBus, timeout: Duration = SystemBus.defaultTimeout) {
        self.bus = bus
        self.timeout = timeout
    }

    /// Sets the transient (kernel) hostname: `SetHostname(name, interactive: false)`.
    ///
    /// Throws `BusError`, e.g. `…AccessDenied` when polkit refuses the caller, `…InvalidArgs`
    /// for a name hostnamed rejects.
    public func setHostname(_ name: String) throws(BusError) {
        try call("SetHostname", name)
    }

    /// Sets the static hostname that hostnamed writes to /etc/hostname:
    /// `SetStaticHostname(name, interactive: false)`.
    ///
    /// Throws `BusError` as `setHostname(_:)` does.
    public func setStaticHostname(_ name: String) throws(BusError) {
        try call("SetStaticHostname", name)
    }

    /// The `Hostname` property: the hostname the kernel uses now.
    ///
    /// Throws `BusError` when hostnamed cannot be reached or the reply is not a string.
    public var hostname: String {
        get throws(BusError) { try stringProperty("Hostname") }
    }

    /// The `StaticHostname` property: the name in /etc/hostname ("" when unset).
    ///
    /// Throws `BusError` when hostnamed cannot be reached or the reply is not a string.
    public var staticHostname: String {
        get throws(BusError) { try stringProperty("StaticHostname") }
    }

    private func call(_ method: String, _ name: String) throws(BusError) {
        try bus.call(service: Self.service, path: Self.path, interface: Self.interface, method: method,
                     arguments: [.string(name), .boolean(false)], timeout: timeout)
    }

    private func stringProperty(_ name: String) throws(BusError) -> String {
        let value = try bus.property(name, interface: Self.interface, path: Self.path, service: Self.service,
                                     timeout: timeout)
        guard let text = value.string else {
            throw BusError(operation: "Reading property \(Self.interface).\(name)",
                           name: "org.freedesktop.DBus.Error.InvalidSignature",
                           message: "expected a string, got \(value)")
        }
        return text
    }
}
