"""Fixed-size summaries of a stream of values: a uniform sample and a distinct counter.

Both hold a bounded amount of memory however many values pass through them, which is
what lets the profile of a file of any length fit in a fixed budget.

- :class:`Reservoir` keeps every value up to its capacity (so quantiles are exact), then
  turns into a uniform random sample of everything seen (Vitter's algorithm R). By the
  Dvoretzky-Kiefer-Wolfowitz inequality a sample of ``k`` values puts every quantile's rank
  within ``sqrt(ln(2 / delta) / (2 k))`` of the truth with probability ``1 - delta``.
- :class:`HyperLogLog` estimates the number of distinct values with a relative standard
  error of ``1.04 / sqrt(2 ** precision)`` (0.4% at the default precision 16; a little
  more, under 1%, in the linear-counting range below ``4 * 2 ** precision`` values).

No Django import here.
"""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_U64 = np.uint64
# Random tables for tabulation hashing of byte strings; the seed is fixed so a profile is
# reproducible, and position tables repeat every 64 bytes to keep the table small.
_TAB_POSITIONS = 64
_TAB = (
    np.random.default_rng(0x5EED)
    .integers(0, 2**64 - 1, size=(_TAB_POSITIONS * 256,), dtype=np.uint64, endpoint=True)
    .reshape(-1)
)


def _mix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser: spreads every input bit over the whole word."""
    x = x.astype(_U64, copy=True)
    with np.errstate(over="ignore"):
        x ^= x >> _U64(30)
        x *= _U64(0xBF58476D1CE4E5B9)
        x ^= x >> _U64(27)
        x *= _U64(0x94D049BB133111EB)
        x ^= x >> _U64(31)
    return x


def _hash_bytes(arr: pa.Array) -> np.ndarray:
    """64-bit hashes of the non-null strings or byte strings in ``arr``, vectorised."""
    arr = pc.cast(arr, pa.large_binary())
    if arr.null_count:
        arr = pc.drop_null(arr)
    if len(arr) == 0:
        return np.empty(0, dtype=_U64)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[
        arr.offset : arr.offset + len(arr) + 1
    ]
    start, end = int(offsets[0]), int(offsets[-1])
    data = arr.buffers()[2]
    raw = (
        np.frombuffer(data, dtype=np.uint8)[start:end]
        if data is not None
        else np.empty(0, np.uint8)
    )
    starts = offsets[:-1] - start
    lengths = np.diff(offsets)
    pos = np.arange(raw.size, dtype=np.int64) - np.repeat(starts, lengths)
    words = _TAB[(pos % _TAB_POSITIONS) * 256 + raw]
    # XOR over each string's bytes, taken as a difference of prefix XORs.
    prefix = np.zeros(raw.size + 1, dtype=_U64)
    if raw.size:
        np.bitwise_xor.accumulate(words, out=prefix[1:])
    acc = prefix[offsets[1:] - start] ^ prefix[starts]
    return _mix64(acc ^ _mix64(lengths.astype(_U64)))


def hash_values(arr: pa.Array) -> np.ndarray:
    """64-bit hashes of the non-null values of a flat arrow array (NaN is dropped)."""
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.dictionary_decode()
        t = arr.type
    if (
        pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or pa.types.is_binary(t)
        or pa.types.is_large_binary(t)
        or pa.types.is_binary_view(t)
        or pa.types.is_fixed_size_binary(t)
    ):
        return _hash_bytes(arr)
    if arr.null_count:
        arr = pc.drop_null(arr)
    if pa.types.is_floating(t) or pa.types.is_decimal(t):
        values = pc.cast(arr, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        values = values[~np.isnan(values)] + 0.0  # + 0.0 folds -0.0 into 0.0
        return _mix64(values.view(_U64))
    if pa.types.is_boolean(t):
        return _mix64(pc.cast(arr, pa.uint64()).to_numpy(zero_copy_only=False))
    if pa.types.is_unsigned_integer(t):
        return _mix64(pc.cast(arr, pa.uint64()).to_numpy(zero_copy_only=False))
    if pa.types.is_temporal(t) and not pa.types.is_timestamp(t) and not pa.types.is_duration(t):
        # date32/time32 and friends cast to int64 only through their storage width.
        arr = arr.view(pa.int32() if t.bit_width == 32 else pa.int64())
    try:
        ints = pc.cast(arr, pa.int64(), safe=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return _hash_bytes(pc.cast(arr, pa.string()))
    return _mix64(ints.to_numpy(zero_copy_only=False).view(_U64))


class HyperLogLog:
    """Flajolet et al.'s distinct-value estimator over 64-bit hashes."""

    def __init__(self, precision: int = 16) -> None:
        self.p = precision
        self.m = 1 << precision
        self.registers = np.zeros(self.m, dtype=np.uint8)

    @property
    def relative_error(self) -> float:
        return 1.04 / math.sqrt(self.m)

    def add(self, hashes: np.ndarray) -> None:
        if hashes.size == 0:
            return
        # Views rather than conversions where the values allow: numpy converts uint64 to
        # other types element by element, several times slower than int64.
        index = (hashes >> _U64(64 - self.p)).view(np.intp)  # < 2**p
        # Rank = trailing zeros of the other 64 - p bits, plus one; the guard bit caps it.
        # The lowest set bit is a power of two, so its float64 exponent is exact.
        low = (hashes & _U64((1 << (64 - self.p)) - 1)) | _U64(1 << (64 - self.p))
        with np.errstate(over="ignore"):
            lowest = low & (_U64(0) - low)
        # lowest <= 2**(64 - p) fits int64; its biased exponent less 1022 is the rank.
        biased = lowest.view(np.int64).astype(np.float64).view(_U64) >> _U64(52)
        ranks = (biased - _U64(1022)).astype(np.uint8)
        # Only a rank above its register's can change it, and once the registers fill up
        # few do: leaving the rest out spares ufunc.at most of its work.
        rises = ranks > self.registers[index]
        np.maximum.at(self.registers, index[rises], ranks[rises])

    def estimate(self) -> int:
        m = self.m
        alpha = 0.7213 / (1 + 1.079 / m)
        raw = alpha * m * m / float(np.sum(np.ldexp(1.0, -self.registers.astype(np.int64))))
        zeros = int(np.count_nonzero(self.registers == 0))
        if zeros:
            # Linear counting while registers are still empty: the raw estimate is biased
            # upwards there (by 2% at 2.5 m, the textbook switch); measured, the two agree
            # best at about 4 m.
            linear = m * math.log(m / zeros)
            if linear <= 4 * m:
                return round(linear)
        return round(raw)


class Reservoir:
    """All values up to ``capacity``, then a uniform sample of that size (algorithm R)."""

    def __init__(self, capacity: int, seed: int = 0) -> None:
        self.capacity = capacity
        self.values = np.empty(min(capacity, 1024), dtype=np.float64)
        self.size = 0
        self.seen = 0
        self._rng = np.random.default_rng(seed)
        self._stamps: np.ndarray | None = None

    @property
    def exact(self) -> bool:
        return self.seen <= self.capacity

    def sample(self) -> np.ndarray:
        return self.values[: self.size]

    def start_from_counts(self, values: np.ndarray, counts: np.ndarray) -> None:
        """Begin, while still empty, with the multiset ``values`` x ``counts``."""
        assert self.seen == 0
        total = int(counts.sum())
        if total > self.capacity:  # a uniform sample of it, as if it had been streamed
            counts = self._rng.multivariate_hypergeometric(counts, self.capacity)
        sample = np.repeat(values, counts)
        self.values = np.empty(max(sample.size, min(self.capacity, 1024)))
        self.values[: sample.size] = sample
        self.size, self.seen = sample.size, total

    def add(self, values: np.ndarray) -> None:
        free = self.capacity - self.size
        if free > 0:
            take = values[:free]
            needed = self.size + take.size
            if needed > self.values.size:
                grown = np.empty(min(self.capacity, max(needed, 2 * self.values.size)))
                grown[: self.size] = self.values[: self.size]
                self.values = grown
            self.values[self.size : needed] = take
            self.size = needed
            self.seen += take.size
            values = values[free:]
        if values.size:
            self._replace(values)

    def _replace(self, values: np.ndarray) -> None:
        # Value number t (1-based over the stream) enters with probability k / t, into a
        # uniformly chosen slot. One uniform u per candidate decides both: w = u * t is
        # below k with probability k / t, and then uniform on [0, k), so floor(w) is the
        # slot. While the rate is high every value is a candidate; later, candidates are
        # drawn at the batch's highest rate with geometric gaps and thinned to their own,
        # so the cost follows the number that can enter, which shrinks as the stream grows.
        k, t0, m = self.capacity, self.seen, values.size
        rate = k / (t0 + 1)
        if rate > 0.25:
            positions = np.arange(m)
            scale = (t0 + 1) + positions.astype(np.float64)
        else:
            expected = m * rate
            gaps = self._rng.geometric(rate, size=int(expected + 6 * math.sqrt(expected) + 16))
            positions = np.cumsum(gaps) - 1
            while positions[-1] < m:  # rare: the draw ran short of the batch's end
                more = np.cumsum(self._rng.geometric(rate, size=len(gaps))) + positions[-1]
                positions = np.concatenate((positions, more))
            positions = positions[positions < m]
            scale = rate * ((t0 + 1) + positions.astype(np.float64))
        w = self._rng.random(positions.size) * scale
        entered = w < k
        positions, slots = positions[entered], w[entered].astype(np.intp)
        # When two entrants pick one slot the later one wins, as in the sequential algorithm:
        # stamp each slot with the highest (latest) entrant number and keep only those.
        if self._stamps is None:
            self._stamps = np.full(k, -1, dtype=np.int32)
        ids = positions.astype(np.int32)
        np.maximum.at(self._stamps, slots, ids)
        last = self._stamps[slots] == ids
        self.values[slots[last]] = values[positions[last]]
        self._stamps[slots] = -1  # ready for the next batch
        self.seen += m
