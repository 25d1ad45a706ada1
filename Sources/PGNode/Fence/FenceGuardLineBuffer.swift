/// Splits the bytes the fence guard reads from its stdin into protocol lines, holding at most
/// `maximumLength` bytes of an unfinished line.
///
/// Guarantees: memory stays bounded whatever arrives; a line longer than `maximumLength` is
/// dropped whole (reported once, as `.tooLong`, when its newline arrives or the input ends);
/// text after the last newline at the end of input is reported as `.unterminated`, never
/// executed (the agent writes whole lines atomically, so a fragment is not from it). Bytes that
/// are not UTF-8 become replacement characters, which no command accepts.
public struct FenceGuardLineBuffer: Sendable {
    /// One piece of input.
    public enum Piece: Hashable, Sendable {
        /// A complete line, without its newline.
        case line(String)
        /// A line of `length` bytes that was longer than allowed and was dropped.
        case tooLong(length: Int)
        /// Text without a newline at the end of input.
        case unterminated(length: Int)
    }

    /// The longest line kept, in bytes, without its newline.
    public let maximumLength: Int
    private var pending: [UInt8] = []
    private var overflowLength: Int? = nil

    /// An empty buffer; `maximumLength` is at least 1.
    public init(maximumLength: Int = FenceGuardCommand.maximumLineLength) {
        self.maximumLength = max(1, maximumLength)
    }

    /// Feeds bytes read from the input; returns the pieces they complete, in order.
    public mutating func append(_ bytes: some Sequence<UInt8>) -> [Piece] {
        var pieces: [Piece] = []
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if let n = overflowLength {
                    pieces.append(.tooLong(length: n))
                } else {
                    pieces.append(.line(String(decoding: pending, as: UTF8.self)))
                }
                pending.removeAll(keepingCapacity: true)
                overflowLength = nil
            } else if let n = overflowLength {
                overflowLength = n + 1
            } else if pending.count == maximumLength {
                overflowLength = pending.count + 1
                pending.removeAll(keepingCapacity: true)
            } else {
                pending.append(byte)
            }
        }
        return pieces
    }

    /// The input ended: reports what is left of an unfinished line, if anything.
    public mutating func finish() -> [Piece] {
        defer {
            pending.removeAll()
            overflowLength = nil
        }
        if let n = overflowLength { return [.tooLong(length: n)] }
        return pending.isEmpty ? [] : [.unterminated(length: pending.count)]
    }
}
