import FoundationEssentials
import Glibc

/// An in-place iterative radix-2 fast Fourier transform of complex data held as two arrays,
/// for convolving privacy loss distributions. Sizes are powers of two.
enum FFT {
    /// Transforms (`real`, `imaginary`) in place: forward (e^{-2πijk/n}) or inverse (without the 1/n).
    static func transform(real: inout [Double], imaginary: inout [Double], inverse: Bool) {
        let n = real.count
        guard n > 1 else { return }
        real.withUnsafeMutableBufferPointer { re in
            imaginary.withUnsafeMutableBufferPointer { im in
                // Bit-reversal permutation.
                var j = 0
                for i in 1..<n {
                    var bit = n >> 1
                    while j & bit != 0 {
                        j ^= bit
                        bit >>= 1
                    }
                    j |= bit
                    if i < j {
                        re.swapAt(i, j)
                        im.swapAt(i, j)
                    }
                }
                var length = 2
                let sign = inverse ? 1.0 : -1.0
                while length <= n {
                    let angle = sign * 2 * Double.pi / Double(length)
                    let half = length / 2
                    // Twiddles of this stage, computed directly (no drift from repeated products).
                    var cosines = [Double](repeating: 0, count: half)
                    var sines = [Double](repeating: 0, count: half)
                    for k in 0..<half {
                        cosines[k] = cos(angle * Double(k))
                        sines[k] = sin(angle * Double(k))
                    }
                    var start = 0
                    while start < n {
                        for k in 0..<half {
                            let a = start + k
                            let b = a + half
                            let tr = re[b] * cosines[k] - im[b] * sines[k]
                            let ti = re[b] * sines[k] + im[b] * cosines[k]
                            re[b] = re[a] - tr
                            im[b] = im[a] - ti
                            re[a] += tr
                            im[a] += ti
                        }
                        start += length
                    }
                    length <<= 1
                }
            }
        }
    }
}
