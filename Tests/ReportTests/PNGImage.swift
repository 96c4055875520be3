import CZlib
import Foundation

/// Just enough of a PNG decoder to check a browser screenshot: the IHDR, and the pixels
/// of 8-bit RGB/RGBA non-interlaced images (what Chromium writes), inflated with zlib
/// and un-filtered row by row.
struct PNGImage {
    struct Failure: Error, CustomStringConvertible { var description: String }

    let width: Int
    let height: Int
    /// RGB triples, row-major.
    let pixels: [UInt8]

    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else { throw Failure(description: "\(path): unreadable") }
        let bytes = [UInt8](data)
        guard bytes.count > 33, bytes[0..<8].elementsEqual([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else {
            throw Failure(description: "\(path): not a PNG")
        }
        func be32(_ i: Int) -> Int { bytes[i..<(i + 4)].reduce(0) { $0 << 8 | Int($1) } }
        var offset = 8
        var header: (width: Int, height: Int, depth: UInt8, color: UInt8, interlace: UInt8)?
        var compressed: [UInt8] = []
        while offset + 8 <= bytes.count {
            let length = be32(offset)
            let type = String(decoding: bytes[(offset + 4)..<(offset + 8)], as: UTF8.self)
            let body = (offset + 8)..<(offset + 8 + length)
            guard body.upperBound + 4 <= bytes.count else { throw Failure(description: "\(path): truncated \(type) chunk") }
            if type == "IHDR" {
                header = (be32(body.lowerBound), be32(body.lowerBound + 4), bytes[body.lowerBound + 8],
                          bytes[body.lowerBound + 9], bytes[body.lowerBound + 12])
            } else if type == "IDAT" {
                compressed += bytes[body]
            } else if type == "IEND" {
                break
            }
            offset = body.upperBound + 4
        }
        guard let header else { throw Failure(description: "\(path): no IHDR") }
        guard header.depth == 8, header.color == 2 || header.color == 6, header.interlace == 0 else {
            throw Failure(description: "\(path): unsupported PNG (depth \(header.depth), colour type \(header.color), interlace \(header.interlace))")
        }
        width = header.width
        height = header.height
        let channels = header.color == 6 ? 4 : 3
        let stride = width * channels
        var raw = [UInt8](repeating: 0, count: height * (stride + 1))
        var rawLength = uLongf(raw.count)
        let status = raw.withUnsafeMutableBufferPointer { out in
            compressed.withUnsafeBufferPointer { input in
                uncompress(out.baseAddress, &rawLength, input.baseAddress, uLong(input.count))
            }
        }
        guard status == Z_OK, Int(rawLength) == raw.count else {
            throw Failure(description: "\(path): IDAT does not inflate to \(raw.count) bytes (zlib \(status))")
        }
        var previous = [UInt8](repeating: 0, count: stride)
        var rgb = [UInt8]()
        rgb.reserveCapacity(width * height * 3)
        for row in 0..<height {
            let start = row * (stride + 1)
            let filter = raw[start]
            var line = Array(raw[(start + 1)...(start + stride)])
            for i in 0..<stride {
                let a = i >= channels ? Int(line[i - channels]) : 0
                let b = Int(previous[i])
                let c = i >= channels ? Int(previous[i - channels]) : 0
                let predictor: Int
                switch filter {
                case 0: predictor = 0
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                default: throw Failure(description: "\(path): bad filter \(filter) in row \(row)")
                }
                line[i] = UInt8(truncatingIfNeeded: Int(line[i]) + predictor)
            }
            for x in 0..<width { rgb += line[(x * channels)..<(x * channels + 3)] }
            previous = line
        }
        pixels = rgb
    }

    /// Pixels within `tolerance` (per channel) of the colour "#RRGGBB".
    func count(near hex: String, tolerance: Int = 12) -> Int {
        let value = Int(hex.dropFirst(), radix: 16)!
        let (r, g, b) = ((value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF)
        var n = 0
        for i in stride(from: 0, to: pixels.count, by: 3)
        where abs(Int(pixels[i]) - r) <= tolerance && abs(Int(pixels[i + 1]) - g) <= tolerance && abs(Int(pixels[i + 2]) - b) <= tolerance {
            n += 1
        }
        return n
    }

    /// Share of pixels that are not (nearly) white.
    var inkedShare: Double {
        var inked = 0
        for i in stride(from: 0, to: pixels.count, by: 3) where min(pixels[i], pixels[i + 1], pixels[i + 2]) < 235 { inked += 1 }
        return Double(inked) / Double(max(width * height, 1))
    }
}
