import Testing
@testable import PGNode

@Suite struct WatchdogSettingsTests {
    static let modes: [(String, WatchdogSettings.Mode?)] = [
        ("off", .off), ("OFF", .off), ("false", .off), ("no", .off), ("disable", .off), ("disabled", .off),
        ("automatic", .automatic), ("auto", .automatic), ("Automatic", .automatic),
        ("required", .required), ("require", .required), ("REQUIRED", .required),
        ("on", nil), ("true", nil), ("yes", nil), ("", nil), ("sometimes", nil),
    ]

    @Test(arguments: modes)
    func parsesPatronisModeSpellings(text: String, expected: WatchdogSettings.Mode?) {
        #expect(WatchdogSettings.mode(parsing: text) == expected)
    }

    @Test func defaultsAreOffDevWatchdogAndFiveSeconds() throws {
        let s = try WatchdogSettings(mode: nil, device: nil, safetyMarginSeconds: nil)
        #expect(s == WatchdogSettings())
        #expect(s.mode == .off && s.device == "/dev/watchdog" && s.safetyMarginSeconds == 5)
    }

    @Test func acceptsValidValues() throws {
        let s = try WatchdogSettings(mode: "required", device: "/dev/watchdog1", safetyMarginSeconds: 0)
        #expect(s == WatchdogSettings(mode: .required, device: "/dev/watchdog1", safetyMarginSeconds: 0))
    }

    @Test func rejectsBadValuesNamingTheKey() {
        #expect(throws: WatchdogSettingsError.badMode("on")) { try WatchdogSettings(mode: "on", device: nil, safetyMarginSeconds: nil) }
        #expect(throws: WatchdogSettingsError.badDevice("watchdog")) {
            try WatchdogSettings(mode: nil, device: "watchdog", safetyMarginSeconds: nil)
        }
        #expect(throws: WatchdogSettingsError.badDevice("/")) { try WatchdogSettings(mode: nil, device: "/", safetyMarginSeconds: nil) }
        #expect(throws: WatchdogSettingsError.badSafetyMargin(-1)) {
            try WatchdogSettings(mode: nil, device: nil, safetyMarginSeconds: -1)
        }
        #expect(WatchdogSettingsError.badMode("on").description.hasPrefix("watchdog.mode: 'on'"))
        #expect(WatchdogSettingsError.badMode("on").description.contains("off, automatic or required"))
        #expect(WatchdogSettingsError.badSafetyMargin(-1).description.hasPrefix("watchdog.safety_margin"))
    }

    static let timeouts: [(Int, Duration, Int)] = [
        (5, .milliseconds(1000), 1),    // pgha's defaults: the 1 s floor
        (5, .milliseconds(1999), 1),
        (0, .milliseconds(1000), 1),
        (0, .milliseconds(2500), 2),    // whole seconds, rounded down (never later than asked)
        (5, .seconds(30), 25),          // Patroni's defaults: ttl 30, margin 5
        (5, .seconds(7), 2),
        (3600, .seconds(10), 1),
        (0, .seconds(Int64.max), Int(Int32.max)),
    ]

    @Test(arguments: timeouts)
    func timeoutIsElectionTimeoutLessMarginAtLeastOneSecond(margin: Int, election: Duration, expected: Int) {
        let s = WatchdogSettings(mode: .required, safetyMarginSeconds: margin)
        #expect(s.timeoutSeconds(minimumElectionTimeout: election) == expected)
    }
}
