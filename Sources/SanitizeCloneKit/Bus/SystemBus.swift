#if canImport(Glibc)
import Glibc
#endif
import CDBus
import Synchronization

/// A private connection to the D-Bus system bus, through libdbus.
///
/// The connection is private (`dbus_connection_open_private` + `dbus_bus_register`) and never
/// exits the process when the bus goes away (`dbus_connection_set_exit_on_disconnect(c, 0)`):
/// a bus that dies answers every later call with a `BusError`. Calls are serialised: one call
/// or wait at a time per `SystemBus`. The connection is closed when the value is released.
public final class SystemBus: Sendable {
    // Sendable without @unchecked: the libdbus handle lives in a ~Copyable `BusConnection`
    // that only code holding `connection`'s lock can reach.

    /// How long a method call waits for its reply unless told otherwise (libdbus's own default).
    public static let defaultTimeout: Duration = .seconds(25)

    /// Where the system bus listens when `DBUS_SYSTEM_BUS_ADDRESS` is not set.
    public static let standardAddress = "unix:path=/run/dbus/system_bus_socket"

    /// The address `SystemBus()` connects to: `$DBUS_SYSTEM_BUS_ADDRESS` when set, else `standardAddress`.
    public static var defaultAddress: String {
        if let variable = getenv("DBUS_SYSTEM_BUS_ADDRESS"), variable.pointee != 0 {
            return String(cString: variable)
        }
        return standardAddress
    }

    /// True when a system bus looks reachable at `defaultAddress`, without connecting to it.
    public static var isAvailable: Bool { isAvailable(at: defaultAddress) }

    /// True when `address` names a bus that looks reachable, without connecting to it: a
    /// `unix:path=` socket that exists, or a transport that cannot be checked cheaply (tcp,
    /// abstract sockets). False for an address libdbus cannot parse.
    public static func isAvailable(at address: String) -> Bool {
        var entries: UnsafeMutablePointer<OpaquePointer?>? = nil
        var count: Int32 = 0
        guard dbus_parse_address(address, &entries, &count, nil) != 0, let entries else { return false }
        defer { dbus_address_entries_free(entries) }
        for index in 0..<Int(count) {
            guard let entry = entries[index] else { continue }
            let method = String(cString: dbus_address_entry_get_method(entry))
            guard method == "unix", let path = dbus_address_entry_get_value(entry, "path") else { return true }
            // A socket that cannot be inspected counts as absent: connecting would fail too.
            if let status = try? System.status(of: String(cString: path)), status.st_mode & S_IFMT == S_IFSOCK { return true }
        }
        return false
    }

    /// The address this bus was reached at.
    public let address: String
    private let connection: Mutex<BusConnection>

    /// Connects to the system bus at `address` (default: `defaultAddress`) and registers with it.
    ///
    /// Throws `BusError` when nothing listens there, authentication fails or the bus refuses us.
    public init(address: String? = nil) throws(BusError) {
        let address = address ?? SystemBus.defaultAddress
        self.address = address
        connection = Mutex(try BusConnection(address: address))
    }

    /// Calls `interface.method` on the object `path` of `service` and returns the reply's values.
    ///
    /// Throws `BusError` with the error the service replied with, on a timeout, when the bus is
    /// gone, and for a name, path or argument that D-Bus would reject (checked before sending,
    /// because libdbus aborts the process on invalid arguments).
    @discardableResult
    public func call(
        service: String, path: String, interface: String, method: String,
        arguments: [BusArgument] = [], timeout: Duration = SystemBus.defaultTimeout
    ) throws(BusError) -> [BusValue] {
        try withConnection { (connection: borrowing BusConnection) throws(BusError) -> [BusValue] in
            try connection.call(service: service, path: path, interface: interface, method: method,
                                arguments: arguments, timeout: timeout)
        }
    }

    /// Reads the property `interface.name` of the object `path` of `service` through
    /// `org.freedesktop.DBus.Properties.Get` and returns its value (the variant unwrapped).
    ///
    /// Throws `BusError` as `call` does, e.g. `org.freedesktop.DBus.Error.UnknownProperty`.
    public func property(
        _ name: String, interface: String, path: String, service: String,
        timeout: Duration = SystemBus.defaultTimeout
    ) throws(BusError) -> BusValue {
        try withConnection { (connection: borrowing BusConnection) throws(BusError) -> BusValue in
            try connection.property(name, interface: interface, path: path, service: service, timeout: timeout)
        }
    }

    /// Runs `body` with the connection, holding the lock throughout, so a sequence such as
    /// "add a match rule, call, wait for the signal" sees every message in between.
    func withConnection<Result: Sendable>(
        _ body: (borrowing BusConnection) throws(BusError) -> Result
    ) throws(BusError) -> Result {
        try connection.withLock { (connection: inout sending BusConnection) throws(BusError) -> Result in
            try body(connection)
        }
    }
}

// MARK: - Values

/// An argument of a method call, with its D-Bus type.
public enum BusArgument: Sendable, Hashable {
    /// A string (`s`); it must not contain a NUL character.
    case string(String)
    /// A boolean (`b`).
    case boolean(Bool)
    /// An unsigned 32-bit integer (`u`).
    case uint32(UInt32)
    /// An object path (`o`), such as `/org/freedesktop/systemd1/job/42`.
    case objectPath(String)
}

/// A value received in a method reply or a signal.
public indirect enum BusValue: Sendable, Hashable {
    /// A string (`s`).
    case string(String)
    /// An object path (`o`).
    case objectPath(String)
    /// A type signature (`g`).
    case signature(String)
    /// A boolean (`b`).
    case boolean(Bool)
    /// A byte (`y`).
    case byte(UInt8)
    /// A signed 16-bit integer (`n`).
    case int16(Int16)
    /// An unsigned 16-bit integer (`q`).
    case uint16(UInt16)
    /// A signed 32-bit integer (`i`).
    case int32(Int32)
    /// An unsigned 32-bit integer (`u`).
    case uint32(UInt32)
    /// A signed 64-bit integer (`x`).
    case int64(Int64)
    /// An unsigned 64-bit integer (`t`).
    case uint64(UInt64)
    /// A double (`d`).
    case double(Double)
    /// A variant (`v`) and the value it holds.
    case variant(BusValue)
    /// An array (`a…`); a dictionary is an array of `dictionaryEntry`.
    case array([BusValue])
    /// A structure (`(…)`).
    case structure([BusValue])
    /// One entry of a dictionary (`{…}`).
    case dictionaryEntry(key: BusValue, value: BusValue)

    /// The text of a string, or nil for any other value.
    public var string: String? { if case .string(let text) = self { text } else { nil } }
    /// The path of an object path, or nil for any other value.
    public var objectPath: String? { if case .objectPath(let path) = self { path } else { nil } }
    /// The value of a boolean, or nil for any other value.
    public var boolean: Bool? { if case .boolean(let value) = self { value } else { nil } }
    /// The value of an unsigned 32-bit integer, or nil for any other value.
    public var uint32: UInt32? { if case .uint32(let value) = self { value } else { nil } }
    /// What a variant holds (through nested variants); any other value is returned as is.
    public var unwrapped: BusValue { if case .variant(let inner) = self { inner.unwrapped } else { self } }
}

// MARK: - Errors

/// A D-Bus operation that failed: what we were doing, the D-Bus error name and its message.
///
/// The description is one line and, for the errors an administrator can act on, says what to do:
/// `org.freedesktop.hostname1.SetHostname failed: org.freedesktop.DBus.Error.AccessDenied: … (run as root or pass --root)`.
public struct BusError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What was being done: a method ("org.freedesktop.hostname1.SetHostname"), a property read
    /// or the connection.
    public let operation: String
    /// The D-Bus error name, e.g. "org.freedesktop.DBus.Error.AccessDenied".
    public let name: String
    /// The error's message, flattened to one line.
    public let message: String

    /// An error named `name`; line breaks in `message` become spaces.
    public init(operation: String, name: String, message: String) {
        self.operation = operation
        self.name = name
        self.message = message.split(whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }.joined(separator: " ")
    }

    /// Takes the name and message libdbus put in `error` (a generic failure when it put none).
    init(operation: String, libdbusError error: DBusError) {
        self.init(
            operation: operation,
            name: error.name.map { String(cString: $0) } ?? "org.freedesktop.DBus.Error.Failed",
            message: error.message.map { String(cString: $0) } ?? "libdbus gave no reason")
    }

    /// One line: `<operation> failed: <name>: <message>`, plus what to do when we know.
    public var description: String {
        "\(operation) failed: \(name): \(message)" + (advice.map { " (\($0))" } ?? "")
    }

    /// What an administrator can do about errors of this name.
    private var advice: String? {
        switch name {
        case "org.freedesktop.DBus.Error.AccessDenied", "org.freedesktop.DBus.Error.AuthFailed",
             "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired":
            "run as root or pass --root"
        case "org.freedesktop.DBus.Error.ServiceUnknown", "org.freedesktop.DBus.Error.NameHasNoOwner":
            "the service is not running on this bus: install or start it, or pass --root"
        case "org.freedesktop.DBus.Error.NoServer", "org.freedesktop.DBus.Error.FileNotFound",
             "org.freedesktop.DBus.Error.BadAddress":
            "no system bus is running there: start dbus, set DBUS_SYSTEM_BUS_ADDRESS, or pass --root"
        case "org.freedesktop.DBus.Error.Disconnected":
            "the system bus went away: check dbus.service, or pass --root"
        case "org.freedesktop.DBus.Error.NoReply", "org.freedesktop.DBus.Error.Timeout",
             "org.freedesktop.DBus.Error.TimedOut":
            "no answer in time: check the service with systemctl status, then retry"
        default:
            nil
        }
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return self[first...last]
    }
}

// MARK: - The connection

/// An open, registered libdbus connection; closed and released when the value goes away.
struct BusConnection: ~Copyable {
    let handle: OpaquePointer

    /// Set once per process before the first connection.
    private static let libdbusConfigured: Bool = {
        // libdbus would otherwise set SIGPIPE to SIG_IGN for the whole process when a connection
        // is made, and programs we spawn later would inherit that. On Linux it writes with
        // MSG_NOSIGNAL, so it needs no SIGPIPE handling of ours.
        dbus_connection_set_change_sigpipe(0)
        return dbus_threads_init_default() != 0
    }()

    /// dbus_connection_open_private(3) + dbus_bus_register(3), never exiting on disconnect.
    init(address: String) throws(BusError) {
        _ = Self.libdbusConfigured
        let operation = "Connection to the system bus at \(address)"
        let handle = try withLibdbusError(operation) { error in dbus_connection_open_private(address, error) }
        dbus_connection_set_exit_on_disconnect(handle, 0)
        do throws(BusError) {
            try withLibdbusError(operation) { error in dbus_bus_register(handle, error) != 0 ? () : nil }
        } catch {
            dbus_connection_close(handle)
            dbus_connection_unref(handle)
            throw error
        }
        self.handle = handle
    }

    deinit {
        // A private connection must be closed before its last reference goes.
        dbus_connection_close(handle)
        dbus_connection_unref(handle)
    }

    /// See `SystemBus.call`.
    @discardableResult
    func call(
        service: String, path: String, interface: String, method: String,
        arguments: [BusArgument], timeout: Duration
    ) throws(BusError) -> [BusValue] {
        let operation = "\(interface).\(method)"
        let request = try BusMessage.methodCall(service: service, path: path, interface: interface, method: method,
                                                operation: operation)
        try request.append(arguments, operation: operation)
        let reply = try withLibdbusError(operation) { error in
            dbus_connection_send_with_reply_and_block(handle, request.handle, timeout.libdbusMilliseconds, error)
        }
        defer { dbus_message_unref(reply) }
        return try BusMessage.values(of: reply, operation: operation)
    }

    /// See `SystemBus.property`.
    func property(
        _ name: String, interface: String, path: String, service: String, timeout: Duration
    ) throws(BusError) -> BusValue {
        let operation = "Reading property \(interface).\(name)"
        let values: [BusValue]
        do throws(BusError) {
            values = try call(service: service, path: path, interface: "org.freedesktop.DBus.Properties", method: "Get",
                              arguments: [.string(interface), .string(name)], timeout: timeout)
        } catch {
            throw BusError(operation: operation, name: error.name, message: error.message)
        }
        guard values.count == 1, case .variant(let value) = values[0] else {
            throw BusError(operation: operation, name: "org.freedesktop.DBus.Error.InvalidSignature",
                           message: "expected one variant in the reply, got \(values)")
        }
        return value.unwrapped
    }

    /// Asks the bus daemon to route the messages matching `rule` to us (dbus_bus_add_match(3)).
    func addMatch(_ rule: String, operation: String) throws(BusError) {
        try withLibdbusError(operation) { error in
            dbus_bus_add_match(handle, rule, error)
            return dbus_error_is_set(error) == 0 ? () : nil
        }
    }

    /// Withdraws a match rule added with `addMatch`; failures are ignored (the rule goes away
    /// with the connection anyway).
    func removeMatch(_ rule: String) {
        guard dbus_connection_get_is_connected(handle) != 0 else { return }
        dbus_bus_remove_match(handle, rule, nil)
    }

    /// Reads messages until a signal `interface.member` arrives whose values `accept` takes, and
    /// returns those values. Other messages are dropped. Signals that arrived while a call was
    /// waiting for its reply are still queued and seen here.
    ///
    /// Throws `BusError` named `org.freedesktop.DBus.Error.Timeout` at `deadline`, and
    /// `…Disconnected` when the bus goes away.
    func waitForSignal(
        interface: String, member: String, until deadline: ContinuousClock.Instant, operation: String,
        where accept: ([BusValue]) -> Bool
    ) throws(BusError) -> [BusValue] {
        while true {
            while let message = dbus_connection_pop_message(handle) {
                defer { dbus_message_unref(message) }
                if dbus_message_is_signal(message, "org.freedesktop.DBus.Local", "Disconnected") != 0 { break }
                guard dbus_message_is_signal(message, interface, member) != 0 else { continue }
                let values = try BusMessage.values(of: message, operation: operation)
                if accept(values) { return values }
            }
            guard dbus_connection_get_is_connected(handle) != 0 else {
                throw BusError(operation: operation, name: "org.freedesktop.DBus.Error.Disconnected",
                               message: "the bus closed the connection while we waited for \(interface).\(member)")
            }
            let remaining = deadline - .now
            guard remaining > .zero else {
                throw BusError(operation: operation, name: "org.freedesktop.DBus.Error.Timeout",
                               message: "no \(member) signal arrived in time")
            }
            // Blocks until something can be read (or written), the time is up, or the bus goes.
            _ = dbus_connection_read_write(handle, remaining.libdbusMilliseconds)
        }
    }
}

/// An owned libdbus message; released when the value goes away.
private struct BusMessage: ~Copyable {
    let handle: OpaquePointer

    deinit { dbus_message_unref(handle) }

    /// dbus_message_new_method_call(3), after checking each name: libdbus aborts the process on
    /// a malformed one instead of returning an error.
    static func methodCall(
        service: String, path: String, interface: String, method: String, operation: String
    ) throws(BusError) -> BusMessage {
        try withLibdbusError(operation) { error in dbus_validate_bus_name(service, error) != 0 ? () : nil }
        try withLibdbusError(operation) { error in dbus_validate_path(path, error) != 0 ? () : nil }
        try withLibdbusError(operation) { error in dbus_validate_interface(interface, error) != 0 ? () : nil }
        try withLibdbusError(operation) { error in dbus_validate_member(method, error) != 0 ? () : nil }
        guard let handle = dbus_message_new_method_call(service, path, interface, method) else {
            throw BusError.outOfMemory(operation)
        }
        return BusMessage(handle: handle)
    }

    /// Appends `arguments` with the iterator API (dbus_message_append_args is variadic and not
    /// imported into Swift).
    func append(_ arguments: [BusArgument], operation: String) throws(BusError) {
        var iterator = DBusMessageIter()
        dbus_message_iter_init_append(handle, &iterator)
        for argument in arguments {
            var value = DBusBasicValue()
            let appended: Bool
            switch argument {
            case .string(let text):
                appended = try Self.appendText(text, type: TypeCode.string, to: &iterator, operation: operation)
            case .objectPath(let path):
                try withLibdbusError(operation) { error in dbus_validate_path(path, error) != 0 ? () : nil }
                appended = try Self.appendText(path, type: TypeCode.objectPath, to: &iterator, operation: operation)
            case .boolean(let flag):
                value.bool_val = flag ? 1 : 0
                appended = dbus_message_iter_append_basic(&iterator, TypeCode.boolean, &value) != 0
            case .uint32(let number):
                value.u32 = number
                appended = dbus_message_iter_append_basic(&iterator, TypeCode.uint32, &value) != 0
            }
            guard appended else { throw BusError.outOfMemory(operation) }
        }
    }

    private static func appendText(
        _ text: String, type: Int32, to iterator: inout DBusMessageIter, operation: String
    ) throws(BusError) -> Bool {
        // D-Bus strings cannot hold NUL; a C string would silently stop at the first one.
        guard !text.utf8.contains(0) else {
            throw BusError(operation: operation, name: "org.freedesktop.DBus.Error.InvalidArgs",
                           message: "a string argument contains a NUL character")
        }
        // Untyped, non-throwing closure: withCString is rethrows (see STYLE.md).
        return text.withCString { pointer in
            var value = DBusBasicValue()
            value.str = UnsafeMutablePointer(mutating: pointer)
            return dbus_message_iter_append_basic(&iterator, type, &value) != 0
        }
    }

    /// The values of `message`, in order.
    static func values(of message: OpaquePointer, operation: String) throws(BusError) -> [BusValue] {
        var iterator = DBusMessageIter()
        guard dbus_message_iter_init(message, &iterator) != 0 else { return [] }
        return try values(at: &iterator, operation: operation)
    }

    /// The values from `iterator`'s position to the end of its container.
    private static func values(at iterator: inout DBusMessageIter, operation: String) throws(BusError) -> [BusValue] {
        var values: [BusValue] = []
        while true {
            let type = dbus_message_iter_get_arg_type(&iterator)
            if type == TypeCode.invalid { return values }
            values.append(try value(at: &iterator, type: type, operation: operation))
            dbus_message_iter_next(&iterator)
        }
    }

    private static func value(at iterator: inout DBusMessageIter, type: Int32, operation: String) throws(BusError) -> BusValue {
        // DBusBasicValue is a union as large as any basic type: get_basic writes as many bytes
        // as the value's real type needs, so a smaller Swift variable would be overrun.
        var basic = DBusBasicValue()
        switch type {
        case TypeCode.variant, TypeCode.array, TypeCode.structure, TypeCode.dictionaryEntry:
            var inner = DBusMessageIter()
            dbus_message_iter_recurse(&iterator, &inner)
            let elements = try values(at: &inner, operation: operation)
            switch type {
            case TypeCode.variant where elements.count == 1: return .variant(elements[0])
            case TypeCode.dictionaryEntry where elements.count == 2: return .dictionaryEntry(key: elements[0], value: elements[1])
            case TypeCode.array: return .array(elements)
            case TypeCode.structure: return .structure(elements)
            default:
                throw BusError(operation: operation, name: "org.freedesktop.DBus.Error.InvalidSignature",
                               message: "malformed container in the reply")
            }
        case TypeCode.unixFileDescriptor:
            dbus_message_iter_get_basic(&iterator, &basic)
            System.close(basic.fd)
            throw BusError(operation: operation, name: "org.freedesktop.DBus.Error.NotSupported",
                           message: "the reply holds a file descriptor, which this client does not read")
        default:
            break
        }
        dbus_message_iter_get_basic(&iterator, &basic)
        switch type {
        case TypeCode.string: return .string(String(cString: basic.str))
        case TypeCode.objectPath: return .objectPath(String(cString: basic.str))
        case TypeCode.signature: return .signature(String(cString: basic.str))
        case TypeCode.boolean: return .boolean(basic.bool_val != 0)
        case TypeCode.byte: return .byte(basic.byt)
        case TypeCode.int16: return .int16(basic.i16)
        case TypeCode.uint16: return .uint16(basic.u16)
        case TypeCode.int32: return .int32(basic.i32)
        case TypeCode.uint32: return .uint32(basic.u32)
        case TypeCode.int64: return .int64(Int64(basic.i64))
        case TypeCode.uint64: return .uint64(UInt64(basic.u64))
        case TypeCode.double: return .double(basic.dbl)
        default:
            throw BusError(operation: operation, name: "org.freedesktop.DBus.Error.InvalidSignature",
                           message: "the reply holds a value of unknown type code \(type)")
        }
    }
}

/// D-Bus type codes (dbus-protocol.h defines them as `((int) 's')` macros).
private enum TypeCode {
    static let invalid: Int32 = 0
    static let string = code("s")
    static let objectPath = code("o")
    static let signature = code("g")
    static let boolean = code("b")
    static let byte = code("y")
    static let int16 = code("n")
    static let uint16 = code("q")
    static let int32 = code("i")
    static let uint32 = code("u")
    static let int64 = code("x")
    static let uint64 = code("t")
    static let double = code("d")
    static let unixFileDescriptor = code("h")
    static let variant = code("v")
    static let array = code("a")
    static let structure = code("r")
    static let dictionaryEntry = code("e")

    private static func code(_ letter: Unicode.Scalar) -> Int32 { Int32(letter.value) }
}

// MARK: - Helpers

extension BusError {
    static func outOfMemory(_ operation: String) -> BusError {
        BusError(operation: operation, name: "org.freedesktop.DBus.Error.NoMemory", message: "libdbus ran out of memory")
    }
}

/// Runs `body` with a fresh `DBusError`; when it returns nil, throws what libdbus put there.
private func withLibdbusError<Result>(
    _ operation: String, _ body: (UnsafeMutablePointer<DBusError>) -> Result?
) throws(BusError) -> Result {
    var error = DBusError()
    dbus_error_init(&error)
    defer { dbus_error_free(&error) }
    if let result = body(&error) { return result }
    throw BusError(operation: operation, libdbusError: error)
}

extension Duration {
    /// This duration in milliseconds for libdbus: rounded up (a short positive wait never becomes
    /// "now"), 0 for negative durations, at most Int32.max (libdbus's "no timeout").
    var libdbusMilliseconds: Int32 {
        let (seconds, attoseconds) = components
        let milliseconds = Double(seconds) * 1000 + Double(attoseconds) / 1e15
        return Int32(max(0, min(milliseconds.rounded(.up), Double(Int32.max))))
    }
}
