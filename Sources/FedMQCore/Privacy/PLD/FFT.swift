import FoundationEssentials
import Glibc

/// An in-place iterative radix-2 fast Fourier transform of complex data held as two arrays,
/// for convolving privacy loss distributions. Sizes are powers of two.
///
/// The loops index raw pointers, whose subscripts are inlined even in a debug build; a buffer's
/// checked subscript is a call per element there, and a composition of thousands of steps
/// runs tens of millions of butterflies.
enum FFT {
    /// Transforms (`real`, `imaginary`) in place: forward (e^{-2πijk/n}) or inverse (without the 1/n).
    static func transform(real: inout [Double], imaginary: inout [Double], inverse: Bool) {
        let n = real.count
        guard n > 1, imaginary.count == n else { return }
        // Twiddles e^{∓2πik/n} for k < n/2, computed directly (no drift from repeated products);
        // the stage of length L uses every (n/L)-th.
        let sign = inverse ? 1.0 : -1.0
        let cosines = (0..<n / 2).map { cos(sign * 2 * Double.pi * Double($0) / Double(n)) }
        let sines = (0..<n / 2).map { sin(sign * 2 * Double.pi * Double($0) / Double(n)) }
        real.withUnsafeMutableBufferPointer { realBuffer in
            imaginary.withUnsafeMutableBufferPointer { imaginaryBuffer in
                cosines.withUnsafeBufferPointer { cosineBuffer in
                    sines.withUnsafeBufferPointer { sineBuffer in
                        guard let re = realBuffer.baseAddress, let im = imaginaryBuffer.baseAddress,
                            let cosines = cosineBuffer.baseAddress, let sines = sineBuffer.baseAddress
                        else { return }
                        permute(re, im, count: n)
                        butterflies(re, im, count: n, cosines: cosines, sines: sines)
                    }
                }
            }
        }
    }

    /// The bit-reversal permutation.
    private static func permute(_ re: UnsafeMutablePointer<Double>, _ im: UnsafeMutablePointer<Double>, count n: Int) {
        var j = 0
        var i = 1
        while i < n {
            var bit = n &>> 1
            while j & bit != 0 {
                j ^= bit
                bit = bit &>> 1
            }
            j |= bit
            if i < j {
                let real = re[i]
                re[i] = re[j]
                re[j] = real
                let imaginary = im[i]
                im[i] = im[j]
                im[j] = imaginary
            }
            i += 1
        }
    }

    /// Every stage's butterflies, stage lengths 2, 4, … n.
    private static func butterflies(
        _ re: UnsafeMutablePointer<Double>, _ im: UnsafeMutablePointer<Double>, count n: Int, cosines: UnsafePointer<Double>,
        sines: UnsafePointer<Double>
    ) {
        var length = 2
        while length <= n {
            let half = length / 2
            let stride = n / length
            var start = 0
            while start < n {
                var k = 0
                while k < half {
                    let a = start + k
                    let b = a + half
                    let c = cosines[k * stride]
                    let s = sines[k * stride]
                    let tr = re[b] * c - im[b] * s
                    let ti = re[b] * s + im[b] * c
                    re[b] = re[a] - tr
                    im[b] = im[a] - ti
                    re[a] += tr
                    im[a] += ti
                    k += 1
                }
                start += length
            }
            length = length &<< 1
        }
    }
}
