import Distributed
import XCTest

/// The libnbc algorithm for the buckets' MPI_Iallreduce: recursive doubling for 2 ranks on
/// 2 hosts, the ring otherwise, and the user's own choice left alone.
final class NonblockingAllreduceAlgorithmTests: XCTestCase {
    func testTwoRanksOnTwoHostsExchangeOnceAndTheRestUseTheRing() {
        XCTAssertNil(NonblockingAllreduceAlgorithm.value(ranks: 1, local: 1))
        XCTAssertEqual(NonblockingAllreduceAlgorithm.value(ranks: 2, local: 1), "4")
        XCTAssertEqual(NonblockingAllreduceAlgorithm.value(ranks: 2, local: 2), "1")
        for ranks in [3, 4, 7, 64, 1024] {
            for local in [1, 2, ranks] { XCTAssertEqual(NonblockingAllreduceAlgorithm.value(ranks: ranks, local: local), "1") }
        }
    }

    func testTheSizeComesFromMpirunAndAUsersChoiceWins() {
        let name = NonblockingAllreduceAlgorithm.variable
        XCTAssertEqual(name, "OMPI_MCA_coll_libnbc_iallreduce_algorithm")
        XCTAssertNil(NonblockingAllreduceAlgorithm.setting(environment: [:]), "not under mpirun")
        XCTAssertNil(NonblockingAllreduceAlgorithm.setting(environment: ["OMPI_COMM_WORLD_SIZE": "1"]))
        XCTAssertEqual(NonblockingAllreduceAlgorithm.setting(environment: ["OMPI_COMM_WORLD_SIZE": "2"])?.value, "4")
        let oneHost = ["OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"]
        XCTAssertEqual(NonblockingAllreduceAlgorithm.setting(environment: oneHost)?.value, "1")
        let twoHosts = ["OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_SIZE": "1"]
        XCTAssertEqual(NonblockingAllreduceAlgorithm.setting(environment: twoHosts)?.value, "4")
        XCTAssertEqual(NonblockingAllreduceAlgorithm.setting(environment: ["OMPI_COMM_WORLD_SIZE": "6"])?.value, "1")
        XCTAssertNil(NonblockingAllreduceAlgorithm.setting(environment: ["OMPI_COMM_WORLD_SIZE": "2", name: "2"]))
        XCTAssertNil(NonblockingAllreduceAlgorithm.setting(environment: ["OMPI_COMM_WORLD_SIZE": "two"]))
    }
}
