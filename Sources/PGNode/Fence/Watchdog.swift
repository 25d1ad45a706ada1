#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOConcurrencyHelpers

/// The Linux watchdog device (`/dev/watchdog`), used as Patroni uses it: a hardware (or kernel)
/// timer that resets the machine unless the agent keeps it alive.
///
/// How it relates to the lease: the agent activates it when its Postgres becomes primary, calls
/// `keepalive()` on every lease renewal (every ~100 ms), and calls `disable()` when it stops being
/// primary. If the whole user space of the host freezes — agent and fence guard alike, or the
/// guard was killed — the keepalives stop and the device resets the machine `timeout` seconds
/// after the last one, which stops Postgres for certain. The timeout is
/// `WatchdogSettings.timeoutSeconds(minimumElectionTimeout:)`: what the configuration gives, and
/// at least 1 s, the device's granularity.
///
/// Why it complements the fence guard rather than replacing it: the guard fences within
/// milliseconds of the lease deadline, inside the ~400 ms between the lapse of the lease and the
/// earliest election of another node, but needs a running kernel scheduler and a live guard
/// process. The watchdog needs neither, but its whole-second timeout is later than that window
/// with default timings (1 s election timeout), so it bounds the time two primaries can coexist
/// rather than preventing it; and it resets the whole host, a much blunter fence. A frozen VM
/// freezes its virtual watchdog too (and its Postgres: see DESIGN.md).
///
/// Guarantees: in mode `.off` the device is never opened. `activate` in mode `.required` throws a
/// `WatchdogError` saying what failed when the device is missing, cannot be opened, or does not
/// take the timeout (it reads it back with WDIOC_GETTIMEOUT; a longer one is a failure); in mode
/// `.automatic` it logs a warning and returns `.unavailable` instead. Whenever activation fails
/// after opening the device it is closed with the magic close, so a half-activated watchdog never
/// resets the machine. The file descriptor is close-on-exec (Postgres never inherits it). Thread-safe.
public final class Watchdog: Sendable {
    /// What the watchdog is doing.
    public enum Status: Hashable, Sendable {
        /// Mode `.off`, or not activated (or disabled) yet.
        case off
        /// Open and armed: the machine resets `timeoutSeconds` after the last keepalive.
        case active(timeoutSeconds: Int, identity: String)
        /// Mode `.automatic` and the device could not be used (the reason says why).
        case unavailable(reason: String)
    }

    // ioctl request numbers from <linux/watchdog.h>. Linux encodes a request as
    // dir << 30 | size << 16 | type << 8 | nr, with dir _IOC_WRITE = 1, _IOC_READ = 2, and
    // type 'W' = 0x57; size is sizeof(int) = 4 or sizeof(struct watchdog_info) = 40.
    /// `_IOR('W', 0, struct watchdog_info)` = 2<<30 | 40<<16 | 0x57<<8 | 0
    static let getSupport: UInt = 0x8028_5700
    /// `_IOR('W', 5, int)` = 2<<30 | 4<<16 | 0x57<<8 | 5
    static let keepAlive: UInt = 0x8004_5705
    /// `_IOWR('W', 6, int)` = 3<<30 | 4<<16 | 0x57<<8 | 6
    static let setTimeout: UInt = 0xC004_5706
    /// `_IOR('W', 7, int)` = 2<<30 | 4<<16 | 0x57<<8 | 7
    static let getTimeout: UInt = 0x8004_5707
    /// `WDIOF_MAGICCLOSE`: the driver stops the timer when "V" is written before close.
    static let magicCloseOption: UInt32 = 0x0100

    private struct State: Sendable {
        var fd: Int32?
        var status: Status = .off
    }

    /// The configuration it follows.
    public let settings: WatchdogSettings
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    private let logLimiter = LogRateLimiter(interval: .seconds(5))

    /// An inactive watchdog; nothing is opened before `activate`.
    public init(settings: WatchdogSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    deinit { disable() }

    /// What the watchdog is doing now.
    public var status: Status { state.withLockedValue { $0.status } }

    /// Opens the device (if not open yet), sets the timeout, reads it back and keeps it alive
    /// once. Call it when Postgres is about to become primary. In mode `.required` a failure
    /// throws, and the agent must then not run Postgres as primary; in `.automatic` a failure
    /// returns `.unavailable`; in `.off` it returns `.off` without touching anything.
    @discardableResult
    public func activate(timeoutSeconds requested: Int) throws(WatchdogError) -> Status {
        guard settings.mode != .off else { return .off }
        var noMagicClose: (identity: String, timeout: Int)?
        let result: Result<Status, WatchdogError> = state.withLockedValue { s in
            switch Self.open(settings.device, timeout: max(1, requested), reusing: s.fd) {
            case .success(let (fd, timeout, identity, canMagicClose)):
                s.fd = fd
                s.status = .active(timeoutSeconds: timeout, identity: identity)
                if !canMagicClose { noMagicClose = (identity, timeout) }
                return .success(s.status)
            case .failure(let error):
                s.fd = nil
                s.status = settings.mode == .required ? .off : .unavailable(reason: error.description)
                return .failure(error)
            }
        }
        if let (identity, timeout) = noMagicClose {
            let device = settings.device
            logger.warning("""
                watchdog \(device) (\(identity)) cannot be disabled once opened (no magic close): the machine \
                will reset \(timeout) s after pgha stops keeping it alive, even after a clean stop
                """)
        }
        switch result {
        case .success(let status):
            logger.info("watchdog active", metadata: ["device": "\(settings.device)", "status": "\(status)"])
            return status
        case .failure(let error):
            if settings.mode == .required {
                logger.error("watchdog required but not usable: \(error)")
                throw error
            }
            logger.warning("watchdog not used (mode automatic): \(error)")
            return .unavailable(reason: error.description)
        }
    }

    /// Restarts the device's timer. Call it on every lease renewal while primary. Returns whether
    /// an active device took it: false when inactive (it then does nothing), and false with an
    /// error in the log (rate-limited) if the device refused it.
    @discardableResult
    public func keepalive() -> Bool {
        let outcome: Result<Bool, KeepaliveFailure> = state.withLockedValue { s in
            guard let fd = s.fd else { return .success(false) }
            var dummy: Int32 = 0
            if ioctl(fd, Self.keepAlive, &dummy) == 0 { return .success(true) }
            let ioctlError = errno
            var byte = UInt8(ascii: "1")  // any byte but "V" pings the timer
            if write(fd, &byte, 1) == 1 { return .success(true) }
            return .failure(KeepaliveFailure(
                text: "WDIOC_KEEPALIVE: \(String(cString: strerror(ioctlError))); write: \(String(cString: strerror(errno)))"))
        }
        switch outcome {
        case .success(let kept):
            return kept
        case .failure(let failure):
            if case .log(let suppressed) = logLimiter.admit("keepalive") {
                logger.error("watchdog keepalive failed: \(failure.text); the machine may reset",
                             metadata: ["device": "\(settings.device)", "suppressed": "\(suppressed)"])
            }
            return false
        }
    }

    private struct KeepaliveFailure: Error { var text: String }

    /// Stops the timer with the magic close (writes "V", then closes). Call it when Postgres
    /// stops being primary or the agent stops cleanly. Does nothing when inactive.
    public func disable() {
        let fd: Int32? = state.withLockedValue { s in
            defer { s.fd = nil; s.status = .off }
            return s.fd
        }
        guard let fd else { return }
        Self.magicClose(fd)
        logger.info("watchdog disabled", metadata: ["device": "\(settings.device)"])
    }

    // MARK: - Device access

    private static func open(_ device: String, timeout: Int, reusing existing: Int32?)
        -> Result<(Int32, Int, String, Bool), WatchdogError> {
        let fd: Int32
        if let existing {
            fd = existing
        } else {
            fd = Glibc.open(device, O_WRONLY | O_CLOEXEC)
            if fd < 0 { return .failure(.cannotOpen(device: device, reason: String(cString: strerror(errno)))) }
        }
        // watchdog_info: u32 options, u32 firmware_version, u8 identity[32].
        var info = [UInt8](repeating: 0, count: 40)
        var identity = "unknown driver"
        var canMagicClose = true
        if info.withUnsafeMutableBytes({ ioctl(fd, getSupport, $0.baseAddress!) }) == 0 {
            let options = info.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
            canMagicClose = options & magicCloseOption != 0
            let name = String(decoding: info[8..<40].prefix { $0 != 0 }, as: UTF8.self)
            if !name.isEmpty { identity = name }
        }
        var value = Int32(clamping: timeout)
        if ioctl(fd, setTimeout, &value) != 0 {
            let reason = String(cString: strerror(errno))
            magicClose(fd)
            return .failure(.cannotSetTimeout(device: device, seconds: timeout, reason: reason))
        }
        var actual: Int32 = 0
        if ioctl(fd, getTimeout, &actual) != 0 { actual = value }  // SETTIMEOUT wrote back what it set
        if Int(actual) > timeout || actual <= 0 {
            magicClose(fd)
            return .failure(.timeoutNotTaken(device: device, requested: timeout, actual: Int(actual)))
        }
        var dummy: Int32 = 0
        _ = ioctl(fd, keepAlive, &dummy)
        return .success((fd, Int(actual), identity, canMagicClose))
    }

    private static func magicClose(_ fd: Int32) {
        var v = UInt8(ascii: "V")
        _ = write(fd, &v, 1)
        close(fd)
    }
}

/// Why the watchdog device could not be used; the description names the device, what failed and
/// what to do.
public enum WatchdogError: Error, Hashable, Sendable, CustomStringConvertible {
    case cannotOpen(device: String, reason: String)
    case cannotSetTimeout(device: String, seconds: Int, reason: String)
    case timeoutNotTaken(device: String, requested: Int, actual: Int)

    public var description: String {
        switch self {
        case .cannotOpen(let d, let r):
            "cannot open watchdog device \(d): \(r). Load a watchdog driver (for example `modprobe softdog`), "
                + "make the device writable by the agent's user and make sure no other process (a watchdog daemon) holds it, "
                + "or set watchdog.mode to automatic or off"
        case .cannotSetTimeout(let d, let s, let r):
            "watchdog device \(d) did not accept a timeout of \(s) s (WDIOC_SETTIMEOUT: \(r)); "
                + "is it a watchdog device? Use a driver that supports setting the timeout, or set watchdog.mode to automatic or off"
        case .timeoutNotTaken(let d, let req, let act):
            "watchdog device \(d) was asked for a \(req) s timeout but keeps \(act) s, which is too late to protect the lease; "
                + "use a device that supports \(req) s, or raise the election timeout, or set watchdog.mode to automatic or off"
        }
    }
}
