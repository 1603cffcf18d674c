"""Pairing the rows of a predictions file with the rows of a dataset version by row id.

:func:`check_row_ids` compares the id column of the predictions with the same column of
the dataset version and says what keeps them from pairing one to one: rows without an id,
an id given twice on either side, or ids the dataset version does not have. Ids compare
as numbers when both sides are numeric (``7`` and ``7.0`` are one id), else as text
(``7`` and ``"7"`` are one id; ``"007"`` is another). :func:`row_order` then says, for
ids that pair, where each prediction's row lies among the version's rows. No Django import
here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: How many unknown ids a message shows.
SHOWN = 3


@dataclass(frozen=True)
class RowIdCheck:
    """What stands between the predictions' row ids and the dataset version's.

    ``first_*`` values are the predictions' own, spelled as a person writes them
    (``'x1'``, ``17``); the dataset version's values are only counted, never shown.
    """

    rows: int
    missing: int  # prediction rows without an id
    first_repeated: str | None  # an id the predictions give more than once
    known_missing: int  # dataset rows without an id
    known_repeated: int  # dataset rows whose id another row has too
    unknown: int  # prediction ids the dataset version does not have
    first_unknown: tuple[str, ...]

    @property
    def pairs(self) -> bool:
        return not (
            self.missing
            or self.first_repeated is not None
            or self.known_missing
            or self.known_repeated
            or self.unknown
        )


def _arrow(values: np.ndarray) -> pa.Array:
    """The values as an arrow array; NaN and None become nulls."""
    if values.dtype.kind == "b":
        values = values.astype(np.int64)
    try:
        return pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed Python objects
        return pa.array(
            [None if v is None or v != v else str(v) for v in values.tolist()], pa.string()
        )


def _text(array: pa.Array) -> pa.Array:
    """Ids as text, whole floats spelled as integers (``7.0`` -> ``"7"``)."""
    if pa.types.is_floating(array.type):
        whole = pc.and_(pc.is_finite(array), pc.equal(pc.floor(array), array))
        as_int = pc.cast(pc.if_else(whole, array, None), pa.int64(), safe=False)
        return pc.if_else(whole, pc.cast(as_int, pa.string()), pc.cast(array, pa.string()))
    return pc.cast(array, pa.string())


def _keys(ids: np.ndarray, known: np.ndarray) -> tuple[pa.Array, pa.Array]:
    a, b = _arrow(ids), _arrow(known)
    numeric = [pa.types.is_integer(x.type) or pa.types.is_floating(x.type) for x in (a, b)]
    if all(numeric):
        both_int = pa.types.is_integer(a.type) and pa.types.is_integer(b.type)
        kind = pa.int64() if both_int else pa.float64()
        return pc.cast(a, kind), pc.cast(b, kind)
    return _text(a), _text(b)


def _shown(value) -> str:
    value = value.item() if hasattr(value, "item") else value
    return repr(value)


def check_row_ids(ids: np.ndarray, known: np.ndarray) -> RowIdCheck:
    """How the predictions' row ids (``ids``) pair with the dataset version's (``known``)."""
    keys, known_keys = _keys(ids, known)
    valid = pc.is_valid(keys)
    present = keys.filter(valid)
    counts = pc.value_counts(present)
    repeated = counts.filter(pc.greater(counts.field("counts"), 1))
    first_repeated = None
    if len(repeated):
        # The first repeated id in file order, as the predictions spell it.
        twice = pc.is_in(keys, value_set=repeated.field("values"))
        first_repeated = _shown(ids[int(np.flatnonzero(twice.to_numpy(zero_copy_only=False))[0])])
    known_present = known_keys.filter(pc.is_valid(known_keys))
    known_counts = pc.value_counts(known_present)
    over = known_counts.filter(pc.greater(known_counts.field("counts"), 1)).field("counts")
    inside = pc.is_in(keys, value_set=known_present)
    outside = np.flatnonzero(pc.and_(valid, pc.invert(inside)).to_numpy(zero_copy_only=False))
    return RowIdCheck(
        rows=len(ids),
        missing=len(keys) - len(present),
        first_repeated=first_repeated,
        known_missing=len(known_keys) - len(known_present),
        known_repeated=int(pc.sum(over).as_py() or 0),
        unknown=int(outside.size),
        first_unknown=tuple(_shown(ids[i]) for i in outside[:SHOWN]),
    )


def row_order(ids: np.ndarray, known: np.ndarray) -> np.ndarray:
    """For each prediction row, the position of the dataset version's row with its id, so
    that ``version_column[row_order(ids, known)]`` lines up with the predictions. Ids are
    compared as :func:`check_row_ids` compares them; ValueError when some id has no row
    (ids that pass that check always have one)."""
    keys, known_keys = _keys(ids, known)
    order = pc.index_in(keys, value_set=known_keys)
    if order.null_count:
        raise ValueError(f"{order.null_count} row ids are not among the dataset version's.")
    return order.to_numpy(zero_copy_only=False).astype(np.intp)
