import Testing
@testable import HACore

@Suite struct LSNTests {
    @Test func parsesAndPrintsPostgresForm() {
        let l = LSN(parsing: "16/B374D848")
        #expect(l?.rawValue == 0x16_B374_D848)
        #expect(l?.description == "16/B374D848")
        #expect(LSN(parsing: "0/3000060")?.description == "0/3000060")
    }

    @Test func rejectsMalformed() {
        for bad in ["", "/", "1/", "/1", "x/1", "1/2/3", "123456789/0", "1-2"] {
            #expect(LSN(parsing: bad) == nil, "\(bad)")
        }
    }

    @Test func byteDistanceNeverUnderflows() {
        #expect(LSN(100).bytes(after: LSN(40)) == 60)
        #expect(LSN(40).bytes(after: LSN(100)) == 0)
    }
}
