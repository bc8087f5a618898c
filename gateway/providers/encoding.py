"""``gzip`` / ``deflate`` response bodies, decoded within a size cap (``h1``: should a
server send them although the request asks for ``identity``)."""

from __future__ import annotations

import zlib

from .errors import BadResponse, TooLarge


class Decoder:
    """A ``gzip`` / ``deflate`` body decoded piece by piece, at most ``cap`` bytes out in
    all (``TooLarge`` past it: 1 MB of gzip can inflate to 1 GB); each piece's output is
    bounded before it is made, never after."""

    def __init__(self, wbits: int, cap: int) -> None:
        self._d = zlib.decompressobj(wbits)
        self.cap = cap
        self.out = 0

    def feed(self, data: bytes) -> bytes:
        """Decoded bytes of ``data``; ``b""`` ends the body (what is left is flushed)."""
        d = self._d
        # At the end, zlib holds at most a window (32 KiB) of output.
        out = d.decompress(data, self.cap - self.out + 1) if data else d.flush()
        self.out += len(out)
        if self.out > self.cap or d.unconsumed_tail:
            raise TooLarge(f"decoded response body over {self.cap} bytes")
        return out


def decoder(encoding: str | None, cap: int) -> Decoder | None:
    """A decoder for a ``gzip`` / ``deflate`` body of at most ``cap`` bytes decoded,
    None for identity."""
    enc = (encoding or "identity").strip().lower()
    if enc == "identity":
        return None
    if enc in ("gzip", "x-gzip"):
        return Decoder(16 + zlib.MAX_WBITS, cap)
    if enc == "deflate":
        return Decoder(zlib.MAX_WBITS, cap)
    raise BadResponse(f"unsupported content-encoding {encoding!r}")


def _whole(d: Decoder, body: bytes) -> bytes:
    out, tail = d.feed(body), d.feed(b"")
    return out + tail if tail else out  # no copy of a large body for an empty tail


def decode(body: bytes, encoding: str | None, cap: int) -> bytes:
    """A whole body decoded by its ``content-encoding`` (at most ``cap`` bytes)."""
    d = decoder(encoding, cap)
    if d is None:
        return body
    try:
        try:
            return _whole(d, body)
        except zlib.error:
            if encoding is None or encoding.strip().lower() != "deflate":
                raise
            return _whole(Decoder(-zlib.MAX_WBITS, cap), body)  # raw deflate, a common mistake
    except zlib.error as exc:
        raise BadResponse(f"undecodable {encoding} body: {exc}") from None
