#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The time of day (`CLOCK_REALTIME`), for what leaves the process as a time: API timestamps,
/// token and session expiry, rate-limit windows, log lines, order ids. It can jump (NTP, an
/// operator): never measure durations with it.
public enum WallClock {
    /// Milliseconds since 1970-01-01 00:00 UTC.
    public static func milliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000 + Int64(now.tv_nsec) / 1_000_000
    }
}
