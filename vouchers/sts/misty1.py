"""MISTY1 block cipher (RFC 2994): 128-bit key, 64-bit block, 8 rounds. STS calls it EA11.

Written from the algorithm description in RFC 2994 §2; S7 and S9 are the RFC's
tables. For speed, FI is evaluated with two precomputed 65 536-entry tables:
``_FI_PRE`` holds the key-independent first half of FI (S9, then S7) and
``_FI_POST`` the last S9 layer, so ``FI(x, k) == _FI_POST[_FI_PRE[x] ^ k]``
(the key enters FI only by XOR between those halves). Tests check this against a
literal transcription of FI and against the RFC test vectors.
"""
from __future__ import annotations

from vouchers.sts.errors import InvalidKey

# RFC 2994 §2.4, S7TABLE (a permutation of 0..127).
S7: tuple[int, ...] = (
    27, 50, 51, 90, 59, 16, 23, 84, 91, 26, 114, 115, 107, 44, 102, 73,
    31, 36, 19, 108, 55, 46, 63, 74, 93, 15, 64, 86, 37, 81, 28, 4,
    11, 70, 32, 13, 123, 53, 68, 66, 43, 30, 65, 20, 75, 121, 21, 111,
    14, 85, 9, 54, 116, 12, 103, 83, 40, 10, 126, 56, 2, 7, 96, 41,
    25, 18, 101, 47, 48, 57, 8, 104, 95, 120, 42, 76, 100, 69, 117, 61,
    89, 72, 3, 87, 124, 79, 98, 60, 29, 33, 94, 39, 106, 112, 77, 58,
    1, 109, 110, 99, 24, 119, 35, 5, 38, 118, 0, 49, 45, 122, 127, 97,
    80, 34, 17, 6, 71, 22, 82, 78, 113, 62, 105, 67, 52, 92, 88, 125,
)

# RFC 2994 §2.4, S9TABLE (a permutation of 0..511).
S9: tuple[int, ...] = (
    451, 203, 339, 415, 483, 233, 251, 53, 385, 185, 279, 491, 307, 9, 45, 211,
    199, 330, 55, 126, 235, 356, 403, 472, 163, 286, 85, 44, 29, 418, 355, 280,
    331, 338, 466, 15, 43, 48, 314, 229, 273, 312, 398, 99, 227, 200, 500, 27,
    1, 157, 248, 416, 365, 499, 28, 326, 125, 209, 130, 490, 387, 301, 244, 414,
    467, 221, 482, 296, 480, 236, 89, 145, 17, 303, 38, 220, 176, 396, 271, 503,
    231, 364, 182, 249, 216, 337, 257, 332, 259, 184, 340, 299, 430, 23, 113, 12,
    71, 88, 127, 420, 308, 297, 132, 349, 413, 434, 419, 72, 124, 81, 458, 35,
    317, 423, 357, 59, 66, 218, 402, 206, 193, 107, 159, 497, 300, 388, 250, 406,
    481, 361, 381, 49, 384, 266, 148, 474, 390, 318, 284, 96, 373, 463, 103, 281,
    101, 104, 153, 336, 8, 7, 380, 183, 36, 25, 222, 295, 219, 228, 425, 82,
    265, 144, 412, 449, 40, 435, 309, 362, 374, 223, 485, 392, 197, 366, 478, 433,
    195, 479, 54, 238, 494, 240, 147, 73, 154, 438, 105, 129, 293, 11, 94, 180,
    329, 455, 372, 62, 315, 439, 142, 454, 174, 16, 149, 495, 78, 242, 509, 133,
    253, 246, 160, 367, 131, 138, 342, 155, 316, 263, 359, 152, 464, 489, 3, 510,
    189, 290, 137, 210, 399, 18, 51, 106, 322, 237, 368, 283, 226, 335, 344, 305,
    327, 93, 275, 461, 121, 353, 421, 377, 158, 436, 204, 34, 306, 26, 232, 4,
    391, 493, 407, 57, 447, 471, 39, 395, 198, 156, 208, 334, 108, 52, 498, 110,
    202, 37, 186, 401, 254, 19, 262, 47, 429, 370, 475, 192, 267, 470, 245, 492,
    269, 118, 276, 427, 117, 268, 484, 345, 84, 287, 75, 196, 446, 247, 41, 164,
    14, 496, 119, 77, 378, 134, 139, 179, 369, 191, 270, 260, 151, 347, 352, 360,
    215, 187, 102, 462, 252, 146, 453, 111, 22, 74, 161, 313, 175, 241, 400, 10,
    426, 323, 379, 86, 397, 358, 212, 507, 333, 404, 410, 135, 504, 291, 167, 440,
    321, 60, 505, 320, 42, 341, 282, 417, 408, 213, 294, 431, 97, 302, 343, 476,
    114, 394, 170, 150, 277, 239, 69, 123, 141, 325, 83, 95, 376, 178, 46, 32,
    469, 63, 457, 487, 428, 68, 56, 20, 177, 363, 171, 181, 90, 386, 456, 468,
    24, 375, 100, 207, 109, 256, 409, 304, 346, 5, 288, 443, 445, 224, 79, 214,
    319, 452, 298, 21, 6, 255, 411, 166, 67, 136, 80, 351, 488, 289, 115, 382,
    188, 194, 201, 371, 393, 501, 116, 460, 486, 424, 405, 31, 65, 13, 442, 50,
    61, 465, 128, 168, 87, 441, 354, 328, 217, 261, 98, 122, 33, 511, 274, 264,
    448, 169, 285, 432, 422, 205, 243, 92, 258, 91, 473, 324, 502, 173, 165, 58,
    459, 310, 383, 70, 225, 30, 477, 230, 311, 506, 389, 140, 143, 64, 437, 190,
    120, 0, 172, 272, 350, 292, 2, 444, 162, 234, 112, 508, 278, 348, 76, 450,
)

KEY_BYTES = 16
BLOCK_BYTES = 8


def fi_reference(fi_in: int, fi_key: int) -> int:
    """FI exactly as RFC 2994 §2.3 writes it (slow; used by tests and the key schedule check)."""
    d9 = fi_in >> 7
    d7 = fi_in & 0x7F
    d9 = S9[d9] ^ d7
    d7 = (S7[d7] ^ d9) & 0x7F
    d7 ^= fi_key >> 9
    d9 ^= fi_key & 0x1FF
    d9 = S9[d9] ^ d7
    return (d7 << 9) | d9


def _build_fi_tables() -> tuple[list[int], list[int]]:
    pre = [0] * 0x10000
    post = [0] * 0x10000
    for x in range(0x10000):
        d9 = S9[x >> 7] ^ (x & 0x7F)
        d7 = (S7[x & 0x7F] ^ d9) & 0x7F
        pre[x] = (d7 << 9) | d9
        # x here is the state after the key XOR: d7 in bits 15..9, d9 in bits 8..0.
        post[x] = (x & 0xFE00) | (S9[x & 0x1FF] ^ (x >> 9))
    return pre, post


_FI_PRE, _FI_POST = _build_fi_tables()


# Indices into EK of the FO round keys (RFC 2994 §2.3, FO) ...
_FO_INDEX = tuple(
    (k, (k + 5) % 8 + 8, (k + 2) % 8, (k + 1) % 8 + 8, (k + 7) % 8, (k + 3) % 8 + 8, (k + 4) % 8)
    for k in range(8)
)
# ... and of the FL keys: even k uses EK[k/2] and EK[(k/2+6)%8+8],
# odd k uses EK[((k-1)/2+2)%8+8] and EK[((k-1)/2+4)%8].
_FL_INDEX = tuple(
    (k // 2, (k // 2 + 6) % 8 + 8) if k % 2 == 0 else ((k // 2 + 2) % 8 + 8, (k // 2 + 4) % 8)
    for k in range(10)
)


def _fi(x: int, k: int) -> int:
    return _FI_POST[_FI_PRE[x] ^ k]


class Misty1:
    """A MISTY1 key schedule; ``encrypt_block``/``decrypt_block`` work on 64-bit integers.

    Blocks are big-endian: byte 0 is the most significant byte of the integer.
    """

    __slots__ = ("_ek", "_fo", "_fl")

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
            raise InvalidKey("a MISTY1 key is exactly 16 bytes")
        ek = [(key[0] << 8) | key[1], (key[2] << 8) | key[3], (key[4] << 8) | key[5],
              (key[6] << 8) | key[7], (key[8] << 8) | key[9], (key[10] << 8) | key[11],
              (key[12] << 8) | key[13], (key[14] << 8) | key[15]]
        pre = _FI_PRE
        post = _FI_POST
        ek += [post[pre[ek[i]] ^ ek[(i + 1) & 7]] for i in range(8)]
        self._ek = ek
        # Round keys of FO(k), k = 0..7: (KO1, KI1, KO2, KI2, KO3, KI3, KO4).
        self._fo = [(ek[a], ek[b], ek[c], ek[d], ek[e], ek[f], ek[g]) for a, b, c, d, e, f, g in _FO_INDEX]
        # FL(k), k = 0..9: (AND key, OR key).
        self._fl = [(ek[a], ek[b]) for a, b in _FL_INDEX]

    @property
    def extended_key(self) -> bytes:
        """K' of RFC 2994 (EK[8..15]), 16 bytes; exposed for the published vector."""
        return b"".join(v.to_bytes(2, "big") for v in self._ek[8:16])

    def encrypt_block(self, block: int) -> int:
        """Encrypt one 64-bit block given as an integer (0 <= block < 2**64)."""
        fi_pre = _FI_PRE
        fi_post = _FI_POST
        fo = self._fo
        fl = self._fl
        d0 = block >> 32
        d1 = block & 0xFFFFFFFF
        for r in (0, 2, 4, 6):
            # FL layer on both halves.
            a, o = fl[r]
            h, lo = d0 >> 16, d0 & 0xFFFF
            lo ^= h & a
            h ^= lo | o
            d0 = (h << 16) | lo
            a, o = fl[r + 1]
            h, lo = d1 >> 16, d1 & 0xFFFF
            lo ^= h & a
            h ^= lo | o
            d1 = (h << 16) | lo
            # Round r: D1 ^= FO(D0, r).
            ko1, ki1, ko2, ki2, ko3, ki3, ko4 = fo[r]
            t0 = fi_post[fi_pre[(d0 >> 16) ^ ko1] ^ ki1] ^ (d0 & 0xFFFF)
            t1 = fi_post[fi_pre[(d0 & 0xFFFF) ^ ko2] ^ ki2] ^ t0
            t0 = fi_post[fi_pre[t0 ^ ko3] ^ ki3] ^ t1
            d1 ^= ((t1 ^ ko4) << 16) | t0
            # Round r+1: D0 ^= FO(D1, r+1).
            ko1, ki1, ko2, ki2, ko3, ki3, ko4 = fo[r + 1]
            t0 = fi_post[fi_pre[(d1 >> 16) ^ ko1] ^ ki1] ^ (d1 & 0xFFFF)
            t1 = fi_post[fi_pre[(d1 & 0xFFFF) ^ ko2] ^ ki2] ^ t0
            t0 = fi_post[fi_pre[t0 ^ ko3] ^ ki3] ^ t1
            d0 ^= ((t1 ^ ko4) << 16) | t0
        a, o = fl[8]
        h, lo = d0 >> 16, d0 & 0xFFFF
        lo ^= h & a
        h ^= lo | o
        d0 = (h << 16) | lo
        a, o = fl[9]
        h, lo = d1 >> 16, d1 & 0xFFFF
        lo ^= h & a
        h ^= lo | o
        d1 = (h << 16) | lo
        return (d1 << 32) | d0

    def decrypt_block(self, block: int) -> int:
        """Invert :meth:`encrypt_block`."""
        fo = self._fo
        fl = self._fl
        d0 = block & 0xFFFFFFFF
        d1 = block >> 32
        d0 = _fl_inv(d0, *fl[8])
        d1 = _fl_inv(d1, *fl[9])
        for r in (6, 4, 2, 0):
            d0 ^= _fo(d1, fo[r + 1])
            d1 ^= _fo(d0, fo[r])
            d0 = _fl_inv(d0, *fl[r])
            d1 = _fl_inv(d1, *fl[r + 1])
        return (d0 << 32) | d1

    def encrypt(self, block: bytes) -> bytes:
        """Encrypt one 8-byte block."""
        if len(block) != BLOCK_BYTES:
            raise ValueError("MISTY1 blocks are 8 bytes")
        return self.encrypt_block(int.from_bytes(block, "big")).to_bytes(8, "big")

    def decrypt(self, block: bytes) -> bytes:
        """Decrypt one 8-byte block."""
        if len(block) != BLOCK_BYTES:
            raise ValueError("MISTY1 blocks are 8 bytes")
        return self.decrypt_block(int.from_bytes(block, "big")).to_bytes(8, "big")


def _fo(x: int, keys: tuple[int, ...]) -> int:
    ko1, ki1, ko2, ki2, ko3, ki3, ko4 = keys
    t0 = x >> 16
    t1 = x & 0xFFFF
    t0 = _fi(t0 ^ ko1, ki1) ^ t1
    t1 = _fi(t1 ^ ko2, ki2) ^ t0
    t0 = _fi(t0 ^ ko3, ki3) ^ t1
    t1 ^= ko4
    return (t1 << 16) | t0


def _fl_inv(x: int, and_key: int, or_key: int) -> int:
    h = x >> 16
    lo = x & 0xFFFF
    h ^= lo | or_key
    lo ^= h & and_key
    return (h << 16) | lo
