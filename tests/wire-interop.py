"""The independent side of tests/wire-interop.scm: cbor2 (Python).

  wire-interop.py check IN OUT   decode every [name, bytes] of the CBOR list
                                 in IN with cbor2, compare with what the name
                                 should be, write [name, ok, detail] to OUT
  wire-interop.py emit OUT       write [name, bytes] cases encoded by cbor2

Run with /usr/bin/python3, which has Debian's python3-cbor2.
"""

import math
import struct
import sys
from fractions import Fraction

import cbor2
from cbor2 import CBORTag


def tag(number, value):
    return CBORTag(number, value)


def is_nan(x):
    return isinstance(x, float) and math.isnan(x)


def negative_zero(x):
    return isinstance(x, float) and x == 0.0 and math.copysign(1.0, x) < 0


# What each value encoded by Scheme must decode to in Python. A callable
# is a predicate; anything else is compared with ==, and its type too.
EXPECTED = {
    "zero": 0,
    "small": 23,
    "negative": -500,
    "uint64": 2 ** 63,
    "negint64": -(2 ** 64),
    "bignum": 2 ** 100,
    "negative bignum": -(2 ** 100) - 7,
    "rational": Fraction(-22, 7),
    "flonum": 1.5,
    "tiny flonum": 5e-324,
    "infinity": float("inf"),
    "nan": is_nan,
    "negative zero": negative_zero,
    "complex": tag(43000, [1.0, -2.5]),
    "true": True,
    "false": False,
    "unspecified": None,
    "string": "h\u00e9llo \u2603 \U0001f600",
    "empty string": "",
    "symbol": tag(39, "lambda"),
    "keyword": tag(59201, "key"),
    "char": tag(59200, 0x3BB),
    "empty list": [],
    "list": [1, "two", [3.0, []]],
    "improper list": tag(59203, [1, 2, 3]),
    "vector": tag(59202, [1, "a"]),
    "bytevector": b"\x00\x01\xff",
    "u8vector": tag(64, b"\x01\x02"),
    "s16vector": tag(77, struct.pack("<2h", -2, 300)),
    "u32vector": tag(70, struct.pack("<2I", 1, 4000000000)),
    "s64vector": tag(79, struct.pack("<q", -(2 ** 60))),
    "f32vector": tag(85, struct.pack("<2f", 1.5, -2.0)),
    "f64vector": tag(86, struct.pack("<3d", 0.5, 1e300, -0.0)),
    "c64vector": tag(59209, tag(86, struct.pack("<2d", 1.0, 2.0))),
    "2-d array": tag(40, [[2, 2], [1, "b", 3, 4]]),
    "2-d f64 array": tag(40, [[2, 3], tag(86, struct.pack(
        "<6d", 1, 2, 3, 4, 5, 6))]),
    "array with lower bounds": tag(59210, [[1], tag(59202, [
        tag(39, "a"), tag(39, "b")])]),
    "hash table": {"one": 1, "list": [1, 2]},
    "eof": tag(59204, None),
    "record": tag(27, ["interop-point", 1, [2]]),
}


def check(path_in, path_out):
    with open(path_in, "rb") as f:
        cases = cbor2.load(f)
    results = []
    for name, data in cases:
        try:
            got = cbor2.loads(data)
        except Exception as e:  # The report must reach Scheme in any case.
            results.append([name, False, "cbor2 failed: %r" % (e,)])
            continue
        want = EXPECTED.get(name)
        if name not in EXPECTED:
            ok, detail = False, "no expectation for this name"
        elif callable(want):
            ok, detail = bool(want(got)), repr(got)
        else:
            ok = got == want and type(got) is type(want)
            detail = "got %r, expected %r" % (got, want)
        results.append([name, ok, detail])
    with open(path_out, "wb") as f:
        cbor2.dump(results, f)


# Values encoded by cbor2, for Scheme to decode; the names are matched in
# tests/wire-interop.scm.
def emitted():
    return [
        ("int", 42),
        ("negative int", -42),
        ("uint64", 2 ** 64 - 1),
        ("bignum", 2 ** 64),
        ("negative bignum", -(2 ** 70)),
        ("float", 0.1),
        ("half-float infinity", float("-inf")),
        ("nan", float("nan")),
        ("fraction", Fraction(3, 4)),
        ("true", True),
        ("false", False),
        ("none", None),
        ("text", "\u00fcber \U0001f600"),
        ("bytes", b"\x00abc"),
        ("list", [1, [2, [3]], "x"]),
        ("tuple", (1, 2)),
        ("empty list", []),
        ("dict", {"a": 1, "b": [True, None]}),
        ("nested dict", {"k": {"inner": b"\x01"}}),
        ("symbol", tag(39, "sym")),
        ("vector", tag(59202, [1, 2])),
        ("f64 little endian", tag(86, struct.pack("<2d", 1.5, -2.0))),
        ("f64 big endian", tag(82, struct.pack(">2d", 1.5, -2.0))),
        ("s32 big endian", tag(74, struct.pack(">2i", -7, 7))),
        ("u16 little endian", tag(69, struct.pack("<2H", 1, 65535))),
        ("f32 big endian", tag(81, struct.pack(">f", 0.25))),
        ("2-d s32 array", tag(40, [[2, 3], tag(78, struct.pack(
            "<6i", 1, 2, 3, 4, 5, 6))])),
        ("complex", tag(43000, [1.0, 2.0])),
        ("char", tag(59200, 65)),
        ("record", tag(27, ["interop-point", "x", 2.5])),
    ]


def emit(path_out):
    cases = [[name, cbor2.dumps(value)] for name, value in emitted()]
    with open(path_out, "wb") as f:
        cbor2.dump(cases, f)


if __name__ == "__main__":
    if sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    else:
        emit(sys.argv[2])
