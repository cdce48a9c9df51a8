"""python-paillier (phe) beside FedMQ's Paillier: the same operations, timed the same way.

Usage: phe_bench.py BITS KEYS OPS
Prints one JSON object: median seconds per key generation, encryption, addition and
decryption at BITS bits, and which big-integer backend phe uses (gmpy2 when installed, as
its documentation advises for speed).
"""

import json
import random
import statistics
import sys
import time

from phe import paillier
import phe.util

try:
    import gmpy2
except ImportError:
    gmpy2 = None


def median_seconds(function, repetitions):
    samples = []
    for _ in range(repetitions):
        started = time.process_time()
        function()
        samples.append(time.process_time() - started)
    return statistics.median(samples)


def main():
    bits, keys, operations = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    keygen = median_seconds(lambda: paillier.generate_paillier_keypair(n_length=bits), keys)
    public, private = paillier.generate_paillier_keypair(n_length=bits)
    rng = random.SystemRandom()
    messages = [rng.randrange(public.n // 4) for _ in range(operations)]
    # Raw Paillier operations on integers (no phe encoding of floats), as FedMQ's are.
    ciphertexts = []
    encrypt = median_seconds(lambda: ciphertexts.append(public.raw_encrypt(messages[len(ciphertexts)])), operations)
    pairs = iter(range(operations))
    add = median_seconds(
        lambda: (lambda i: ciphertexts[i] * ciphertexts[(i + 1) % operations] % public.nsquare)(next(pairs)), operations)
    decrypted = iter(ciphertexts)
    decrypt = median_seconds(lambda: private.raw_decrypt(next(decrypted)), operations)
    assert private.raw_decrypt(ciphertexts[0]) == messages[0]
    # The exponentiation alone (r^n mod n^2), where an encryption spends its time.
    powmod = median_seconds(lambda: phe.util.powmod(rng.randrange(public.n), public.n, public.nsquare), operations)
    print(json.dumps({
        "keygen": keygen, "encrypt": encrypt, "add": add, "decrypt": decrypt, "powmod": powmod,
        "backend": "gmpy2 (GMP %s)" % gmpy2.mp_version().split()[-1] if gmpy2 and phe.util.HAVE_GMP else "python",
    }))


if __name__ == "__main__":
    main()
