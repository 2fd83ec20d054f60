"""Just enough of PNG to look at what graphite-web drew: size and pixels.

graphite-web writes 8-bit RGB or RGBA, non-interlaced; each scanline starts
with its filter type (PNG's five filters are undone here).
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {2: 3, 6: 4}  # colour type -> bytes per pixel at bit depth 8


class Picture(NamedTuple):
    """Width, height and the RGB pixels, row by row."""

    width: int
    height: int
    pixels: list[tuple[int, int, int]]


def size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk; ValueError for what is no PNG."""
    if not data.startswith(SIGNATURE) or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return struct.unpack(">II", data[16:24])


def _chunks(data: bytes):
    position = len(SIGNATURE)
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        yield kind, data[position + 8:position + 8 + length]
        position += 12 + length


def decode(data: bytes) -> Picture:
    """The pixels of an 8-bit RGB(A) PNG."""
    width, height = size(data)
    header = next(body for kind, body in _chunks(data) if kind == b"IHDR")
    depth, colour, interlace = header[8], header[9], header[12]
    if depth != 8 or colour not in CHANNELS or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}")
    step = CHANNELS[colour]
    raw = zlib.decompress(b"".join(body for kind, body in _chunks(data) if kind == b"IDAT"))
    stride = width * step
    previous = bytearray(stride)
    pixels = []
    for row in range(height):
        start = row * (stride + 1)
        line = _unfilter(raw[start], bytearray(raw[start + 1:start + 1 + stride]), previous,
                         step)
        pixels += [tuple(line[i:i + 3]) for i in range(0, stride, step)]
        previous = line
    return Picture(width, height, pixels)


def _unfilter(kind: int, line: bytearray, above: bytearray, step: int) -> bytearray:
    for i in range(len(line)):
        left = line[i - step] if i >= step else 0
        up = above[i]
        corner = above[i - step] if i >= step else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            line[i] = (line[i] + _paeth(left, up, corner)) & 0xFF
    return line


def _paeth(left: int, up: int, corner: int) -> int:
    estimate = left + up - corner
    distances = (abs(estimate - left), abs(estimate - up), abs(estimate - corner))
    return (left, up, corner)[distances.index(min(distances))]


def colour(text: str) -> tuple[int, int, int]:
    """'#1a7dd7' as (26, 125, 215)."""
    value = text.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
