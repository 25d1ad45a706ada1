/// The `watchdog:` section of the agent's configuration, as in Patroni: whether and how the
/// agent uses the Linux watchdog device while its Postgres is primary.
///
/// Guarantees: the values are validated (`init(mode:device:safetyMarginSeconds:)` throws an error
/// naming the key and what is accepted); `timeoutSeconds(minimumElectionTimeout:)` is at least 1.
/// The default mode is `.off`, unlike Patroni's `automatic`: pgha's timings are ~30 times
/// shorter than Patroni's, so the watchdog timeout is down to the 1 s minimum, and a host on which
/// a device exists would otherwise be reset after any 1 s stall of the agent without anyone
/// having asked for it.
public struct WatchdogSettings: Hashable, Sendable {
    /// How the agent treats the watchdog device.
    public enum Mode: String, Hashable, Sendable, CaseIterable {
        /// Never touch the device.
        case off
        /// Use the device if it can be opened and given the timeout; otherwise warn and go on.
        case automatic
        /// The device must work: if it cannot be opened or given the timeout, the agent does not
        /// run Postgres as primary.
        case required
    }

    /// Whether the device is used (see `Mode`).
    public var mode: Mode
    /// The watchdog device (`/dev/watchdog`, or `/dev/watchdogN` for a particular one).
    public var device: String
    /// How many seconds before another node may be elected the watchdog must have fired
    /// (Patroni's `safety_margin`): room for a late keepalive and for the reset itself.
    public var safetyMarginSeconds: Int

    /// Settings as given, unvalidated (for code; configuration goes through the throwing init).
    public init(mode: Mode = .off, device: String = "/dev/watchdog", safetyMarginSeconds: Int = 5) {
        self.mode = mode
        self.device = device
        self.safetyMarginSeconds = safetyMarginSeconds
    }

    /// From configuration values as a parser has them; `nil` means the default. `mode` accepts
    /// Patroni's spellings: `off` (also `false`, `no`, `disable`, `disabled` — YAML 1.1 reads a bare
    /// `off` as false), `automatic` (`auto`), `required` (`require`), in any case.
    public init(mode: String?, device: String?, safetyMarginSeconds: Int?) throws(WatchdogSettingsError) {
        self.init()
        if let mode {
            guard let parsed = Self.mode(parsing: mode) else { throw .badMode(mode) }
            self.mode = parsed
        }
        if let device {
            guard device.hasPrefix("/"), device.count > 1, !device.contains("\0") else { throw .badDevice(device) }
            self.device = device
        }
        if let safetyMarginSeconds {
            guard (0...3600).contains(safetyMarginSeconds) else { throw .badSafetyMargin(safetyMarginSeconds) }
            self.safetyMarginSeconds = safetyMarginSeconds
        }
    }

    /// The mode a configuration string names, or nil.
    public static func mode(parsing text: String) -> Mode? {
        switch text.lowercased() {
        case "off", "false", "no", "disable", "disabled": .off
        case "automatic", "auto": .automatic
        case "required", "require": .required
        default: nil
        }
    }

    /// The watchdog timeout to set: the minimum election timeout (the earliest another node may
    /// be elected after the lease's last renewal) less the safety margin, in whole seconds, and
    /// at least 1 s (the device's granularity). With pgha's default timings (1 s minimum
    /// election timeout) that is the 1 s floor: the watchdog then bounds how long a frozen
    /// primary host keeps running, but does not by itself fire before a new leader can exist —
    /// the fence guard does that. For the watchdog alone to fire in time, configure a minimum
    /// election timeout of at least `safetyMarginSeconds` + the timeout.
    public func timeoutSeconds(minimumElectionTimeout: Duration) -> Int {
        let electionSeconds = minimumElectionTimeout.components.seconds
        return Int(max(1, min(Int64(Int32.max), electionSeconds - Int64(safetyMarginSeconds))))
    }
}

/// A `watchdog:` setting that is not valid; the description names the key and what to write.
public enum WatchdogSettingsError: Error, Hashable, Sendable, CustomStringConvertible {
    case badMode(String)
    case badDevice(String)
    case badSafetyMargin(Int)

    public var description: String {
        switch self {
        case .badMode(let m):
            "watchdog.mode: '\(m)' is not a watchdog mode; write off, automatic or required"
        case .badDevice(let d):
            "watchdog.device: '\(d)' is not an absolute device path such as /dev/watchdog"
        case .badSafetyMargin(let s):
            "watchdog.safety_margin: \(s) is not a number of seconds from 0 to 3600"
        }
    }
}
