import Distributed
import XCTest

/// The TCP transport's eager limit: raised to 4 MiB only when the ranks span several hosts,
/// alike on every rank, and never over the user's own value.
final class TCPEagerLimitTests: XCTestCase {
    private let names = ["OMPI_MCA_btl_tcp_eager_limit", "OMPI_MCA_btl_tcp_max_send_size"]

    func testRanksOnSeveralHostsSendBucketsOfFourMebibytesAtOnce() {
        XCTAssertEqual(TCPEagerLimit.variables, names)
        XCTAssertEqual(TCPEagerLimit.bytes, 4_194_304)
        for (size, local) in [(2, 1), (3, 2), (4, 2), (64, 8), (1024, 1)] {
            let chosen = TCPEagerLimit.settings(
                environment: ["OMPI_COMM_WORLD_SIZE": "\(size)", "OMPI_COMM_WORLD_LOCAL_SIZE": "\(local)"])
            XCTAssertEqual(chosen.map(\.name), names, "\(size) ranks, \(local) on this host")
            XCTAssertEqual(chosen.map(\.value), ["4194304", "4194304"], "\(size) ranks, \(local) on this host")
        }
    }

    func testOneHostUnknownSizesAndAUsersChoiceSetNothing() {
        XCTAssertTrue(TCPEagerLimit.settings(environment: [:]).isEmpty, "not under mpirun")
        for size in [1, 2, 8] {
            let oneHost = ["OMPI_COMM_WORLD_SIZE": "\(size)", "OMPI_COMM_WORLD_LOCAL_SIZE": "\(size)"]
            XCTAssertTrue(TCPEagerLimit.settings(environment: oneHost).isEmpty, "\(size) ranks on one host")
        }
        XCTAssertTrue(TCPEagerLimit.settings(environment: ["OMPI_COMM_WORLD_SIZE": "2"]).isEmpty, "no local size")
        let twoHosts = ["OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "1"]
        for name in names {
            let chosen = TCPEagerLimit.settings(environment: twoHosts.merging([name: "65536"]) { $1 })
            XCTAssertTrue(chosen.isEmpty, "the user set \(name): neither is touched")
        }
        XCTAssertTrue(
            TCPEagerLimit.settings(environment: ["OMPI_COMM_WORLD_SIZE": "x", "OMPI_COMM_WORLD_LOCAL_SIZE": "1"]).isEmpty)
    }
}
