#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock and monotonic time without Foundation's locale machinery.
public enum Clock {
    /// Milliseconds since the epoch.
    public static func nowMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// A monotonic instant in nanoseconds, for durations.
    public static func monotonicNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// Whole milliseconds elapsed since `start` (a `monotonicNanoseconds()` value).
    public static func millisecondsSince(_ start: UInt64) -> Int {
        Int((monotonicNanoseconds() &- start) / 1_000_000)
    }

    /// `milliseconds` since the epoch as "2026-11-27 05:22:37 UTC".
    public static func utcText(_ milliseconds: Int64) -> String {
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) UTC"
    }

    /// A sortable compact stamp for run ids: "20261127T052237".
    public static func compactStamp(_ milliseconds: Int64) -> String {
        let text = utcText(milliseconds)
        let digits = text.filter { $0.isNumber }
        return String(digits.prefix(8)) + "T" + String(digits.dropFirst(8).prefix(6))
    }
}
