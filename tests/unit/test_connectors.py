"""Reading in order with read-ahead: order kept, errors raised in the consumer, memory bounded."""

import threading

import pyarrow as pa
import pytest

from placelink import connectors
from placelink.connectors import read_ahead, read_in_order
from placelink.errors import SourceError


def batches(source: str, n: int = 3):
    for k in range(n):
        yield pa.record_batch({"source": [source], "k": [k]})


def test_sources_come_back_in_order_whether_read_whole_or_streamed():
    sources = [f"s{i}" for i in range(9)]
    got = [
        (i, b.column("source")[0].as_py(), b.column("k")[0].as_py())
        for i, b in read_in_order(sources, batches, is_small=lambda s: s not in ("s2", "s6"))
    ]
    assert got == [(i, s, k) for i, s in enumerate(sources) for k in range(3)]


@pytest.mark.parametrize("small", [True, False])
def test_an_error_reading_a_source_is_raised_in_the_consumer_after_the_rows_before_it(small):
    def read(source):
        if source == "bad":
            raise SourceError(source, "empty file")
        return batches(source)

    seen = []
    with pytest.raises(SourceError, match="bad: empty file"):
        for _, batch in read_in_order(["a", "bad", "c"], read, is_small=lambda s: small):
            seen.append(batch.column("source")[0].as_py())
    assert seen == ["a"] * 3


def test_read_ahead_stays_a_few_items_ahead_and_stops_when_closed():
    produced = []

    def items():
        for i in range(1000):
            produced.append(i)
            yield i

    stream = read_ahead(items(), depth=connectors.READ_AHEAD)
    assert next(stream) == 0
    threading.Event().wait(0.2)  # let the reader run as far ahead as it may
    assert len(produced) <= connectors.READ_AHEAD + 2
    stream.close()
    assert not any(t.name == "placelink-read-ahead" for t in threading.enumerate())
