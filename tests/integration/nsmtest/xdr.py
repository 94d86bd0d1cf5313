"""XDR (RFC 4506) encoding and decoding, just what ONC RPC and NSM need.

Packer appends to a byte buffer; Unpacker reads from one and raises XdrError on a short
or malformed buffer.  Stdlib only (xdrlib is deprecated and gone in Python 3.13).
"""
import struct


class XdrError(ValueError):
    """Raised when a buffer cannot be decoded."""


class Packer:
    def __init__(self):
        self._parts = []

    def uint(self, v):
        self._parts.append(struct.pack(">I", v & 0xFFFFFFFF))
        return self

    def int(self, v):
        self._parts.append(struct.pack(">i", v))
        return self

    def bool(self, v):
        return self.uint(1 if v else 0)

    def hyper(self, v):
        self._parts.append(struct.pack(">q", v))
        return self

    def fopaque(self, data, n):
        """Fixed-length opaque: exactly n bytes (checked), padded to 4."""
        data = bytes(data)
        if len(data) != n:
            raise XdrError("fixed opaque needs %d bytes, got %d" % (n, len(data)))
        self._parts.append(data + b"\0" * (-n % 4))
        return self

    def opaque(self, data):
        """Variable-length opaque: length word, bytes, padding."""
        data = bytes(data)
        self.uint(len(data))
        self._parts.append(data + b"\0" * (-len(data) % 4))
        return self

    def string(self, s):
        return self.opaque(s.encode() if isinstance(s, str) else s)

    def raw(self, data):
        """Bytes appended as they are (no length, no padding): for malformed input."""
        self._parts.append(bytes(data))
        return self

    def array(self, items, pack_item):
        self.uint(len(items))
        for it in items:
            pack_item(self, it)
        return self

    def bytes(self):
        return b"".join(self._parts)


class Unpacker:
    def __init__(self, data, pos=0):
        self.data = bytes(data)
        self.pos = pos

    def _take(self, n):
        if n < 0 or self.pos + n > len(self.data):
            raise XdrError("short buffer: need %d bytes at %d of %d" % (n, self.pos, len(self.data)))
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def uint(self):
        return struct.unpack(">I", self._take(4))[0]

    def int(self):
        return struct.unpack(">i", self._take(4))[0]

    def bool(self):
        v = self.uint()
        if v > 1:
            raise XdrError("bad bool %d" % v)
        return bool(v)

    def fopaque(self, n):
        b = self._take(n)
        self._take(-n % 4)
        return b

    def opaque(self, maxlen=None):
        n = self.uint()
        if maxlen is not None and n > maxlen:
            raise XdrError("opaque of %d bytes exceeds limit %d" % (n, maxlen))
        return self.fopaque(n)

    def string(self, maxlen=None):
        return self.opaque(maxlen).decode("utf-8", errors="surrogateescape")

    def array(self, unpack_item, maxlen=None):
        n = self.uint()
        if maxlen is not None and n > maxlen:
            raise XdrError("array of %d items exceeds limit %d" % (n, maxlen))
        return [unpack_item(self) for _ in range(n)]

    def remaining(self):
        return len(self.data) - self.pos

    def rest(self):
        return self._take(self.remaining())

    def done(self):
        """Raise unless the whole buffer was consumed."""
        if self.pos != len(self.data):
            raise XdrError("%d trailing bytes" % (len(self.data) - self.pos))
