"""The fixed-size sketches checked against their textbook definitions.

Pure tests: no database, no Django.
"""

from __future__ import annotations

import numpy as np

from projects.analysis.sketches import HyperLogLog


def test_it_keeps_each_register_at_the_highest_rank_of_its_hashes():
    rng = np.random.default_rng(3)
    for precision in (4, 16):
        sketch = HyperLogLog(precision)
        expected = np.zeros(1 << precision, dtype=np.uint8)
        rest = 64 - precision
        for _ in range(3):  # later batches mostly meet registers already as high
            hashes = rng.integers(0, 2**64 - 1, 5000, dtype=np.uint64, endpoint=True)
            hashes[:3] = [0, 2**64 - 1, 1 << rest]  # ranks capped, 1, capped
            sketch.add(hashes)
            for h in hashes.tolist():
                low = h & ((1 << rest) - 1)
                # Rank: trailing zeros of the low bits plus one, rest + 1 when all are zero.
                rank = (low & -low).bit_length() if low else rest + 1
                index = h >> rest
                expected[index] = max(expected[index], rank)
        assert np.array_equal(sketch.registers, expected)
