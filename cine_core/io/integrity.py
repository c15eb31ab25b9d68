"""Cheap checks that a file just written is whole, run before it is moved into place.

An encoder or a library can stop half-way (a full disk, a file-size limit, a killed process)
and still leave a file that starts well. Each check reads only the file's structure (headers,
box or element sizes, the last bytes), never its pixels, so it costs a few reads whatever the
file's size.
"""
from __future__ import annotations

import os
import struct
import zipfile

from ..errors import CineError
from .checks import printable

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the IEND chunk: length 0, type, CRC
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"
_MATROSKA_SEGMENT = b"\x18\x53\x80\x67"


def _incomplete(name: str, why: str) -> CineError:
    return CineError(f"cannot write {printable(name)}: the written file is incomplete ({why}); "
                     f"is the disk full?")


def _mp4_boxes(path: str) -> dict[bytes, int]:
    """Top-level boxes of an MP4 file: {type: count}; raises ValueError when their sizes do not
    add up to the file's size (a file cut short)."""
    size = os.path.getsize(path)
    boxes: dict[bytes, int] = {}
    position = 0
    with open(path, "rb") as handle:
        while position < size:
            handle.seek(position)
            head = handle.read(16)
            if len(head) < 8:
                raise ValueError("a box header is cut short")
            length, kind = struct.unpack(">I4s", head[:8])
            if length == 1:  # a 64-bit size follows the type
                if len(head) < 16:
                    raise ValueError("a box header is cut short")
                length = struct.unpack(">Q", head[8:16])[0]
            elif length == 0:  # the box runs to the end of the file
                length = size - position
            if length < 8 or position + length > size:
                raise ValueError(f"box '{kind.decode('latin-1')}' claims more bytes than the file holds")
            boxes[kind] = boxes.get(kind, 0) + 1
            position += length
    return boxes


def _ebml_number(data: bytes, position: int, keep_marker: bool) -> tuple[int, int]:
    """A Matroska variable-length number at ``position``: (value, length in bytes). ``keep_marker``
    for element IDs; sizes drop it. A size of all ones (unknown) is returned as -1."""
    if position >= len(data):
        raise ValueError("an element header is cut short")
    first = data[position]
    length = 1
    while length <= 8 and not first & (0x80 >> (length - 1)):
        length += 1
    if length > 8 or position + length > len(data):
        raise ValueError("a damaged element header")
    value = first if keep_marker else first & (0xFF >> length)
    for byte in data[position + 1:position + length]:
        value = (value << 8) | byte
    if not keep_marker and value == (1 << (7 * length)) - 1:
        return -1, length
    return value, length


def _webm_complete(path: str) -> None:
    """The EBML header, then one Segment whose size (written when the encoder finishes) reaches
    exactly the end of the file."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        data = handle.read(4096)
    if not data.startswith(_EBML_MAGIC):
        raise ValueError("no WebM header")
    header_size, length = _ebml_number(data, 4, keep_marker=False)
    position = 4 + length + header_size
    if data[position:position + 4] != _MATROSKA_SEGMENT:
        raise ValueError("no segment after the header")
    segment_size, length = _ebml_number(data, position + 4, keep_marker=False)
    if segment_size < 0:
        raise ValueError("the segment's size was never written")
    if position + 4 + length + segment_size != size:
        raise ValueError("the segment's size does not match the file")


def _ends_with(path: str, start: bytes, end: bytes) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(len(start))
        handle.seek(max(0, os.path.getsize(path) - len(end)))
        return head == start and handle.read(len(end)) == end


def check_complete(path: str, kind: str, name: str | None = None) -> None:
    """Refuse ``path`` unless it is a whole file of ``kind`` (".mp4", ".webm", ".gif", ".png",
    ".cine"); ``name`` is what the message calls it (default: its base name).

    Raises:
        CineError: naming what is missing (the MP4 index, the WebM segment size, the GIF or
            PNG trailer, the zip directory of a prepared scene).
    """
    name = name or os.path.basename(path)
    if os.path.getsize(path) == 0:
        raise _incomplete(name, "0 bytes")
    try:
        if kind == ".mp4":
            boxes = _mp4_boxes(path)
            if b"moov" not in boxes or b"mdat" not in boxes:
                raise ValueError("no moov index" if b"moov" not in boxes else "no media data")
        elif kind == ".webm":
            _webm_complete(path)
        elif kind == ".gif":
            if not (_ends_with(path, b"GIF89a", b";") or _ends_with(path, b"GIF87a", b";")):
                raise ValueError("no GIF trailer")
        elif kind == ".png":
            if not _ends_with(path, _PNG_SIGNATURE, _PNG_END):
                raise ValueError("no PNG end chunk")
        elif kind == ".cine":
            with zipfile.ZipFile(path) as archive:  # the directory is the zip's last part
                stored = sum(member.file_size for member in archive.infolist())
            if stored > os.path.getsize(path):
                raise ValueError("the archive claims more data than it holds")
        else:
            raise ValueError(f"unknown kind {kind}")
    except (ValueError, zipfile.BadZipFile, OSError) as exc:
        raise _incomplete(name, str(exc)) from None
