/// One line of the fence guard's stdin protocol, written by the agent (`FenceGuardLink`) and
/// read by `pgha guard`.
///
/// The protocol, one command per `\n`-terminated line of ASCII, fields separated by spaces:
/// - `arm <postmaster-pid> <deadline>`: fence that pid when the deadline passes unrenewed;
/// - `arm-datadir <deadline>`: a postmaster is about to be started as primary and its pid is not
///   known yet: watch whichever postmaster the data directory's `postmaster.pid` names (the guard
///   is started with `--data-dir`); once the deadline passes unrenewed, fence every postmaster
///   that runs there, also one that starts later, until the next `arm`, `arm-datadir` or `disarm`;
/// - `renew <deadline>`: move the deadline (earlier or later: the lease's deadline is authoritative);
/// - `disarm`: stop watching.
///
/// `<deadline>` is an absolute `CLOCK_MONOTONIC` instant in nanoseconds (`MonotonicInstant`).
/// Absolute on purpose: an agent frozen between computing a relative remainder and writing it
/// would otherwise extend the deadline when it wakes.
///
/// Guarantees: `parse` never traps; it rejects lines longer than `maximumLineLength`, pids that
/// `kill()` would treat specially (0, 1 and negatives: a process group, init, every process),
/// numbers with signs or out of range, unknown verbs and wrong argument counts, each with an
/// error saying what was wrong. `line` always parses back to the same command.
public enum FenceGuardCommand: Hashable, Sendable {
    case arm(pid: Int32, deadline: MonotonicInstant)
    case armDataDirectory(deadline: MonotonicInstant)
    case renew(deadline: MonotonicInstant)
    case disarm

    /// The longest line (without its newline) the guard accepts; longer ones are dropped whole.
    /// The longest valid line is `arm` + a 10-digit pid + a 20-digit deadline: 35 bytes.
    public static let maximumLineLength = 128

    /// The command as one protocol line, without the trailing newline.
    public var line: String {
        switch self {
        case .arm(let pid, let deadline): "arm \(pid) \(deadline.nanoseconds)"
        case .armDataDirectory(let deadline): "arm-datadir \(deadline.nanoseconds)"
        case .renew(let deadline): "renew \(deadline.nanoseconds)"
        case .disarm: "disarm"
        }
    }

    /// Parses one line (with or without a trailing `\r`), or says why it is not a command.
    public static func parse(_ text: some StringProtocol) -> Result<FenceGuardCommand, FenceGuardCommandError> {
        let line = Substring(text)
        let utf8 = line.utf8
        if utf8.count > maximumLineLength { return .failure(.tooLong(length: utf8.count)) }
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
        guard let verb = fields.first else { return .failure(.empty) }
        let arguments = Array(fields.dropFirst())
        switch verb {
        case "arm":
            guard arguments.count == 2 else {
                return .failure(.wrongArgumentCount(verb: "arm", expected: 2, got: arguments.count))
            }
            guard let pid = decimal(arguments[0]).flatMap({ Int32(exactly: $0) }), pid > 1 else {
                return .failure(.badPID(String(arguments[0])))
            }
            guard let deadline = decimal(arguments[1]) else { return .failure(.badDeadline(String(arguments[1]))) }
            return .success(.arm(pid: pid, deadline: MonotonicInstant(nanoseconds: deadline)))
        case "renew", "arm-datadir":
            guard arguments.count == 1 else {
                return .failure(.wrongArgumentCount(verb: String(verb), expected: 1, got: arguments.count))
            }
            guard let ns = decimal(arguments[0]) else { return .failure(.badDeadline(String(arguments[0]))) }
            let deadline = MonotonicInstant(nanoseconds: ns)
            return .success(verb == "renew" ? .renew(deadline: deadline) : .armDataDirectory(deadline: deadline))
        case "disarm":
            guard arguments.isEmpty else {
                return .failure(.wrongArgumentCount(verb: "disarm", expected: 0, got: arguments.count))
            }
            return .success(.disarm)
        default:
            return .failure(.unknownVerb(String(verb)))
        }
    }

    /// Digits only (no sign, no spaces), at most `UInt64.max`.
    private static func decimal(_ text: Substring) -> UInt64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return UInt64(text)
    }
}

/// Why a line of the fence guard protocol was not a command. The guard logs it and ignores the
/// line; the description names the problem and, shortened, the offending text.
public enum FenceGuardCommandError: Error, Hashable, Sendable, CustomStringConvertible {
    case empty
    case tooLong(length: Int)
    case unterminated(length: Int)
    case unknownVerb(String)
    case wrongArgumentCount(verb: String, expected: Int, got: Int)
    case badPID(String)
    case badDeadline(String)

    public var description: String {
        switch self {
        case .empty:
            "empty line"
        case .tooLong(let n):
            "line of \(n) bytes is longer than the \(FenceGuardCommand.maximumLineLength) allowed"
        case .unterminated(let n):
            "input ended in the middle of a line (\(n) bytes without a newline)"
        case .unknownVerb(let v):
            "unknown command \(Self.quoted(v)); expected arm, arm-datadir, renew or disarm"
        case .wrongArgumentCount(let verb, let expected, let got):
            "\(verb) takes \(expected) argument\(expected == 1 ? "" : "s"), got \(got)"
        case .badPID(let p):
            "pid \(Self.quoted(p)) is not a decimal number from 2 to \(Int32.max)"
        case .badDeadline(let d):
            "deadline \(Self.quoted(d)) is not a decimal CLOCK_MONOTONIC instant in nanoseconds"
        }
    }

    /// The text in quotes, shortened and with anything unprintable escaped, safe for a log line.
    static func quoted(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(40) {
            out += scalar.isASCII && scalar.value >= 0x20 && scalar.value < 0x7F
                ? String(scalar) : scalar.escaped(asASCII: true)
        }
        if text.unicodeScalars.count > 40 { out += "…" }
        return "'\(out)'"
    }
}
