/// systemd's service manager (`org.freedesktop.systemd1` at `/org/freedesktop/systemd1`, interface
/// `org.freedesktop.systemd1.Manager`) on the system bus: start units and follow their jobs.
///
/// The name mirrors the D-Bus interface it stands for.
public struct SystemdManager: Sendable {
    /// The bus name systemd owns.
    public static let service = "org.freedesktop.systemd1"
    /// The manager object.
    public static let path = "/org/freedesktop/systemd1"
    /// The manager interface.
    public static let interface = "org.freedesktop.systemd1.Manager"
    /// The interface of unit objects, which carries `ActiveState`.
    public static let unitInterface = "org.freedesktop.systemd1.Unit"

    /// How a new job treats jobs already queued for the unit (see systemctl(1) `--job-mode`).
    public struct JobMode: RawRepresentable, Sendable, Hashable {
        /// The mode's name as systemd spells it, e.g. "replace".
        public let rawValue: String
        /// A mode by its systemd name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// Replaces conflicting queued jobs (systemctl's default).
        public static let replace = JobMode(rawValue: "replace")
        /// Fails when the job conflicts with one already queued.
        public static let fail = JobMode(rawValue: "fail")
        /// Starts the unit without pulling in or ordering against its dependencies.
        public static let ignoreDependencies = JobMode(rawValue: "ignore-dependencies")
    }

    /// The bus the calls go through.
    public let bus: SystemBus
    /// How long each method call waits for systemd's reply.
    public let timeout: Duration

    /// The manager on `bus`; nothing is sent until a method is called.
    public init(bus: SystemBus, timeout: Duration = SystemBus.defaultTimeout) {
        self.bus = bus
        self.timeout = timeout
    }

    /// Queues a start job for the unit `name` and returns the job's object path, without waiting
    /// for the job to finish: `StartUnit(name, mode)`.
    ///
    /// Throws `BusError`, e.g. `org.freedesktop.systemd1.NoSuchUnit` for a unit that does not exist.
    @discardableResult
    public func startUnit(_ name: String, mode: JobMode = .replace) throws(BusError) -> String {
        try queueJob("StartUnit", unit: name, mode: mode)
    }

    /// Restarts the unit `name` if it is running (does nothing to a stopped unit) and returns the
    /// job's object path: `TryRestartUnit(name, mode)`.
    ///
    /// Throws `BusError` as `startUnit(_:mode:)` does.
    @discardableResult
    public func tryRestartUnit(_ name: String, mode: JobMode = .replace) throws(BusError) -> String {
        try queueJob("TryRestartUnit", unit: name, mode: mode)
    }

    /// Starts the unit `name` and waits for its job to finish; returns the job's result as systemd
    /// reports it in `JobRemoved`: "done", "failed", "canceled", "timeout", "dependency", "skipped".
    ///
    /// Subscribes to the manager's signals and adds a match rule for `JobRemoved` before the job is
    /// queued, so a job that finishes at once is not missed. Throws `BusError` when the start is
    /// refused, when `timeout` passes first (`org.freedesktop.DBus.Error.Timeout`; the job keeps
    /// running) or when the bus goes away.
    public func startUnitAndWait(
        _ name: String, mode: JobMode = .replace, timeout: Duration = .seconds(90)
    ) throws(BusError) -> String {
        try queueAndWait("StartUnit", name, mode: mode, timeout: timeout)
    }

    /// Restarts the unit `name` (`RestartUnit`: a oneshot with `RemainAfterExit=` runs again) and
    /// waits for the job like `startUnitAndWait`.
    public func restartUnitAndWait(
        _ name: String, mode: JobMode = .replace, timeout: Duration = .seconds(90)
    ) throws(BusError) -> String {
        try queueAndWait("RestartUnit", name, mode: mode, timeout: timeout)
    }

    private func queueAndWait(_ method: String, _ name: String, mode: JobMode, timeout: Duration) throws(BusError) -> String {
        let deadline = ContinuousClock.now + timeout
        return try bus.withConnection { (connection: borrowing BusConnection) throws(BusError) -> String in
            do throws(BusError) {
                try connection.call(service: Self.service, path: Self.path, interface: Self.interface, method: "Subscribe",
                                    arguments: [], timeout: self.timeout)
            } catch where error.name == "org.freedesktop.systemd1.AlreadySubscribed" {
                // An earlier wait on this connection subscribed already: that is all we need.
            }
            try connection.addMatch(Self.jobRemovedRule, operation: "Subscribing to \(Self.interface).JobRemoved")
            defer { connection.removeMatch(Self.jobRemovedRule) }

            let job = try queueJob(method, unit: name, mode: mode,
                                   timeout: min(self.timeout, deadline - .now), on: connection)
            // JobRemoved (u id, o job, s unit, s result); the job path tells our job from others
            // of the same unit.
            let values = try connection.waitForSignal(
                interface: Self.interface, member: "JobRemoved", until: deadline,
                operation: "Waiting for job \(job) starting \(name)"
            ) { values in values.count == 4 && values[1].objectPath == job }
            guard let result = values[3].string else {
                throw BusError(operation: "Waiting for job \(job) starting \(name)",
                               name: "org.freedesktop.DBus.Error.InvalidSignature",
                               message: "JobRemoved carried \(values), expected (u, o, s, s)")
            }
            return result
        }
    }

    /// The `ActiveState` of the unit `name` ("active", "inactive", "failed", "activating", …), or
    /// nil when systemd has no such unit loaded (`GetUnit` answers `NoSuchUnit`).
    ///
    /// Throws `BusError` for any other failure.
    public func unitActiveState(_ name: String) throws(BusError) -> String? {
        let unitPath: String
        do throws(BusError) {
            let values = try bus.call(service: Self.service, path: Self.path, interface: Self.interface, method: "GetUnit",
                                      arguments: [.string(name)], timeout: timeout)
            unitPath = try Self.objectPath(in: values, operation: "\(Self.interface).GetUnit")
        } catch where error.name == "org.freedesktop.systemd1.NoSuchUnit" {
            return nil
        }
        let value = try bus.property("ActiveState", interface: Self.unitInterface, path: unitPath, service: Self.service,
                                     timeout: timeout)
        guard let state = value.string else {
            throw BusError(operation: "Reading property \(Self.unitInterface).ActiveState",
                           name: "org.freedesktop.DBus.Error.InvalidSignature", message: "expected a string, got \(value)")
        }
        return state
    }

    /// The match rule that routes systemd's `JobRemoved` signals to us.
    static let jobRemovedRule = "type='signal',sender='\(service)',path='\(path)',interface='\(interface)',member='JobRemoved'"

    /// Calls `method(unit, mode)`, which answers with a job path.
    private func queueJob(_ method: String, unit: String, mode: JobMode) throws(BusError) -> String {
        try bus.withConnection { (connection: borrowing BusConnection) throws(BusError) -> String in
            try queueJob(method, unit: unit, mode: mode, timeout: timeout, on: connection)
        }
    }

    /// Calls `method(unit, mode)` on a connection whose lock the caller holds.
    private func queueJob(
        _ method: String, unit: String, mode: JobMode, timeout: Duration, on connection: borrowing BusConnection
    ) throws(BusError) -> String {
        let values = try connection.call(service: Self.service, path: Self.path, interface: Self.interface, method: method,
                                         arguments: [.string(unit), .string(mode.rawValue)], timeout: timeout)
        return try Self.objectPath(in: values, operation: "\(Self.interface).\(method)")
    }

    /// The single object path a reply carries.
    private static func objectPath(in values: [BusValue], operation: String) throws(BusError) -> String {
        guard values.count == 1, let path = values[0].objectPath else {
            throw BusError(operation: operation, name: "org.freedesktop.DBus.Error.InvalidSignature",
                           message: "expected one object path in the reply, got \(values)")
        }
        return path
    }
}
