import Testing
@testable import PGNode

@Suite struct FenceGuardCommandTests {
    typealias E = FenceGuardCommandError

    static let good: [(String, FenceGuardCommand)] = [
        ("arm 1234 5000000000", .arm(pid: 1234, deadline: MonotonicInstant(nanoseconds: 5_000_000_000))),
        ("arm 2 0", .arm(pid: 2, deadline: MonotonicInstant(nanoseconds: 0))),
        ("arm 2147483647 18446744073709551615", .arm(pid: .max, deadline: MonotonicInstant(nanoseconds: .max))),
        ("  arm\t77   88  ", .arm(pid: 77, deadline: MonotonicInstant(nanoseconds: 88))),
        ("renew 42", .renew(deadline: MonotonicInstant(nanoseconds: 42))),
        ("renew 42\r", .renew(deadline: MonotonicInstant(nanoseconds: 42))),
        ("arm-datadir 42", .armDataDirectory(deadline: MonotonicInstant(nanoseconds: 42))),
        ("disarm", .disarm),
        ("disarm ", .disarm),
    ]

    @Test(arguments: good)
    func parsesWellFormedLines(line: String, expected: FenceGuardCommand) {
        #expect(FenceGuardCommand.parse(line) == .success(expected))
    }

    static let bad: [(String, E)] = [
        ("", .empty),
        ("   ", .empty),
        ("fence 12", .unknownVerb("fence")),
        ("ARM 12 13", .unknownVerb("ARM")),
        ("arm 12", .wrongArgumentCount(verb: "arm", expected: 2, got: 1)),
        ("arm 12 13 14", .wrongArgumentCount(verb: "arm", expected: 2, got: 3)),
        ("renew", .wrongArgumentCount(verb: "renew", expected: 1, got: 0)),
        ("arm-datadir 12 13", .wrongArgumentCount(verb: "arm-datadir", expected: 1, got: 2)),
        ("disarm now", .wrongArgumentCount(verb: "disarm", expected: 0, got: 1)),
        ("arm 0 100", .badPID("0")),            // kill(0) = the whole process group
        ("arm 1 100", .badPID("1")),            // init
        ("arm -1 100", .badPID("-1")),          // kill(-1) = every process
        ("arm +5 100", .badPID("+5")),
        ("arm 2147483648 100", .badPID("2147483648")),
        ("arm 99999999999999999999999 100", .badPID("99999999999999999999999")),
        ("arm 12x 100", .badPID("12x")),
        ("arm 12 -100", .badDeadline("-100")),
        ("arm 12 1e9", .badDeadline("1e9")),
        ("renew 18446744073709551616", .badDeadline("18446744073709551616")),
        ("renew ０", .badDeadline("０")),      // a full-width digit is not a digit here
        ("renew 5.5", .badDeadline("5.5")),
        (String(repeating: "x", count: 129), .tooLong(length: 129)),
        ("renew " + String(repeating: "1", count: 123), .tooLong(length: 129)),
    ]

    @Test(arguments: bad)
    func rejectsMalformedLinesWithTheReason(line: String, expected: E) {
        #expect(FenceGuardCommand.parse(line) == .failure(expected))
    }

    @Test func everyCommandRoundTripsThroughItsLine() {
        for (_, command) in Self.good {
            #expect(FenceGuardCommand.parse(command.line) == .success(command))
            #expect(command.line.utf8.count <= FenceGuardCommand.maximumLineLength)
        }
    }

    @Test func errorDescriptionsSayWhatWasWrongAndEscapeTheText() {
        #expect(E.unknownVerb("fence").description.contains("expected arm, arm-datadir, renew or disarm"))
        #expect(E.badPID("0").description.contains("from 2 to"))
        let nasty = E.unknownVerb("a\u{1B}[31m\u{0}" + String(repeating: "z", count: 100)).description
        #expect(!nasty.contains("\u{1B}") && !nasty.contains("\u{0}"))
        #expect(nasty.contains("…") && nasty.count < 120)
    }
}

@Suite struct FenceGuardLineBufferTests {
    typealias Piece = FenceGuardLineBuffer.Piece

    @Test func splitsLinesAcrossReads() {
        var b = FenceGuardLineBuffer()
        #expect(b.append(Array("arm 12 3".utf8)) == [])
        #expect(b.append(Array("4\nrenew 5\ndis".utf8)) == [.line("arm 12 34"), .line("renew 5")])
        #expect(b.append(Array("arm\n\n".utf8)) == [.line("disarm"), .line("")])
        #expect(b.finish() == [])
    }

    @Test func dropsAnOverlongLineWholeAndRecovers() {
        var b = FenceGuardLineBuffer(maximumLength: 8)
        #expect(b.append(Array("12345678".utf8)) == [])          // exactly the limit: kept
        #expect(b.append(Array("\n".utf8)) == [.line("12345678")])
        #expect(b.append(Array("123456789".utf8)) == [])         // one over: dropped
        #expect(b.append(Array(repeating: UInt8(ascii: "y"), count: 10_000)) == [])
        #expect(b.append(Array("tail\ndisarm\n".utf8)) == [.tooLong(length: 10_013), .line("disarm")])
    }

    @Test func memoryStaysBoundedWithoutNewlines() {
        var b = FenceGuardLineBuffer()
        for _ in 0..<100 { _ = b.append([UInt8](repeating: 0x41, count: 4096)) }
        #expect(b.finish() == [.tooLong(length: 409_600)])
    }

    @Test func aFragmentAtEndOfInputIsReportedNotExecuted() {
        var b = FenceGuardLineBuffer()
        #expect(b.append(Array("disarm".utf8)) == [])
        #expect(b.finish() == [.unterminated(length: 6)])
        #expect(b.finish() == [])
    }

    @Test func invalidUTF8BecomesALineNoCommandAccepts() {
        var b = FenceGuardLineBuffer()
        let pieces = b.append([0xFF, 0xFE, UInt8(ascii: "\n")])
        #expect(pieces.count == 1)
        guard case .line(let text) = pieces.first else { Issue.record("not a line: \(pieces)"); return }
        #expect((try? FenceGuardCommand.parse(text).get()) == nil)
    }
}
