"""Whether an upload is text is decided in bounded memory: the file is read in pieces, never
whole (app/services/documents.py, ``_is_text``)."""

import tempfile
import tracemalloc

from app.services.documents import TEXT_CHUNK, content_kinds


def _peak_while_checking(data_piece: bytes, pieces: int, tail: bytes = b"") -> tuple[int, bool]:
    with tempfile.TemporaryFile() as source:
        for _ in range(pieces):
            source.write(data_piece)
        source.write(tail)
        tracemalloc.start()
        try:
            kinds = content_kinds(source)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    return peak, kinds == frozenset({"text", "csv"})


def test_a_large_text_file_is_checked_in_bounded_memory() -> None:
    row = "编号,名称,减排量\n1,福田光伏,8200.5\n".encode()
    piece = row * (1024 * 1024 // len(row))  # about 1 MiB
    peak, text = _peak_while_checking(piece, 16)
    assert text
    # A piece read, its copy without control bytes and its decoded text: a few pieces' worth,
    # not the 16 MiB file (whole, it would be read and then decoded: over 30 MiB).
    assert peak < 8 * TEXT_CHUNK, peak


def test_a_gb18030_file_is_checked_in_bounded_memory_too() -> None:
    row = "编号,名称,减排量\n1,福田光伏,8200.5\n".encode("gb18030")
    piece = row * (1024 * 1024 // len(row))
    peak, text = _peak_while_checking(piece, 8)
    assert text
    assert peak < 8 * TEXT_CHUNK, peak


def test_a_control_byte_at_the_end_makes_it_not_text() -> None:
    row = b"plain,ascii,rows\n"
    peak, text = _peak_while_checking(row * 1000, 300, tail=b"\x00")
    assert not text
    assert peak < 8 * TEXT_CHUNK, peak
