#!/usr/bin/python3
"""Makes the fixtures of tests/unit/test_pb*.c with Google's own protobuf
(Debian python3-protobuf) so the C library is checked against it:
for each case below, CASE.bin (the wire bytes), CASE.json (json_format's
MessageToJson) and CASE.dflt.json (the same with default values emitted);
and random.txt: 150 random messages (fixed seed) with their JSON.

Run from the repository root after changing a case or a .proto:
    /usr/bin/python3 tests/unit/data/pb/make_fixtures.py
It needs protoc (protobuf-compiler) to compile all.proto and p2.proto.
"""
import json
import math
import os
import random
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, text_format
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor as FD

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))

CASES = [
    ("scalars_zero", "pbtest.Scalars", ""),
    ("scalars_full", "pbtest.Scalars", r'''
        d: -1.5e300 f: 3.25 i32: -2147483648 i64: -9223372036854775808
        u32: 4294967295 u64: 18446744073709551615 s32: -5 s64: -9000000000
        fx32: 4000000000 fx64: 18000000000000000000 sf32: -7 sf64: -8 b: true
        s: "h\303\251llo \"q\"\n\001" by: "\000\377\020" color: NEGATIVE
        big_field_number: 7'''),
    ("scalars_odd", "pbtest.Scalars", "d: nan f: -inf color: 42 i32: -1 s32: -1 s64: 1"),
    ("repeated_all", "pbtest.Repeated", r'''
        d: [0, 1.5, -2.25] f: [0.5, -1e10] i32: [0, -1, 2147483647] i64: [-1, 5]
        u32: [0, 4294967295] u64: [1, 18446744073709551615] s32: [-1, 1] s64: [-3, 3]
        fx32: [1, 2] fx64: [3] sf32: [-1] sf64: [-2, 2] b: [true, false, true]
        s: ["", "a", "\342\202\254"] by: ["", "\000"] color: [RED, NEGATIVE, 99]
        msgs { i32: 1 } msgs { } msgs { s: "x" } unpacked: [1, -2, 3]'''),
    ("repeated_empty", "pbtest.Repeated", ""),
    ("maps_one", "pbtest.Maps", r'''
        str_int { key: "a" value: 1 } int_str { key: -5 value: "minus five" }
        bool_msg { key: true value { i32: 3 } } uint_enum { key: 7 value: GREEN }
        sint_bytes { key: -1 value: "\001\002" }
        str_value { key: "v" value { list_value { values { number_value: 1 } values { string_value: "s" } values { null_value: NULL_VALUE } } } }'''),
    ("maps_many", "pbtest.Maps", r'''
        str_int { key: "a" value: 1 } str_int { key: "b" value: 0 } str_int { key: "" value: -1 }
        int_str { key: 1 value: "" } int_str { key: 2 value: "two" }
        bool_msg { key: false value { } } bool_msg { key: true value { b: true } }'''),
    ("oneof_zero", "pbtest.Oneofs", 'a: 0 opt_i: 0 opt_s: ""'),
    ("oneof_msg", "pbtest.Oneofs", "c { i32: 5 } opt_m { } opt_e: COLOR_UNSPECIFIED"),
    ("oneof_bytes", "pbtest.Oneofs", 'd: ""'),
    ("oneof_enum", "pbtest.Oneofs", "e: RED opt_i: -7"),
    ("nested", "pbtest.Nested", r'''
        inner { x: 1 next { x: 2 next { x: 3 } } } list { x: 4 } list { }
        self { inner { x: 5 } self { } }'''),
    ("wkt", "pbtest.Wkt", r'''
        ts { seconds: 1700000000 nanos: 5000000 } dur { seconds: -1 nanos: -500000000 }
        st { fields { key: "a" value { number_value: 1.5 } }
             fields { key: "b" value { struct_value { fields { key: "c" value { bool_value: true } } } } }
             fields { key: "n" value { null_value: NULL_VALUE } } }
        val { string_value: "hi" }
        lv { values { number_value: 2 } values { list_value { } } }
        dv { value: 2.5 } fv { value: -0.25 } i64v { value: -9007199254740993 }
        u64v { value: 18446744073709551615 } i32v { } u32v { value: 9 } bv { value: true }
        sv { value: "s" } byv { value: "\001" } empty { } fm { paths: "a.b_c" paths: "d" }
        any { [type.googleapis.com/pbtest.Scalars] { i32: 5 s: "x" } }
        anys { [type.googleapis.com/google.protobuf.Timestamp] { seconds: 0 } }
        anys { [type.googleapis.com/google.protobuf.Duration] { seconds: 3 nanos: 1000 } }
        anys { [type.googleapis.com/google.protobuf.Struct] { fields { key: "k" value { string_value: "v" } } } }
        anys { [type.googleapis.com/google.protobuf.Empty] { } }'''),
    ("wkt_zero", "pbtest.Wkt", r'''ts { } dur { } st { } val { null_value: NULL_VALUE } lv { }
        dv { } i64v { } bv { } sv { } byv { } fm { }'''),
    ("all", "pbtest.All", r'''
        scalars { i32: 1 s: "one" } repeated { i64: [1, 2] msgs { d: 1 } }
        maps { str_int { key: "k" value: 2 } } oneofs { b: "bee" opt_s: "x" }
        nested { inner { x: 9 } } wkt { ts { seconds: 1 } val { bool_value: false } }'''),
    ("p2", "pbtest2.P2", r'''req: 1 unpacked: [1, 2] packed: [3, 4] child { req: 2 s: "" }
        by: "\000" e: ZERO d: 0 b: false u: 1 f: 0.5 opt: 0 m { key: "k" value: 7 }'''),
    ("p2_min", "pbtest2.P2", "req: 0"),
]


# ---- random messages: random.txt, one "TYPE DEFAULTS HEX JSON" line each ----

RND = random.Random(13)
POOL = FACTORY = None


def rstr():
    chars = ["a", "Z", "\u00e9", "\u20ac", "\n", "\"", "\\", "\x01", "\U0001d11e", " "]
    return "".join(RND.choice(chars) for _ in range(RND.randint(0, 5)))


def scalar(f):
    """A random value for field F, edge values likely. No -0.0: protobuf-c
    does not write it (a known difference, doc/grpc.md)."""
    t = f.type
    if t in (FD.TYPE_INT32, FD.TYPE_SINT32, FD.TYPE_SFIXED32):
        return RND.choice([0, 1, -1, 2**31 - 1, -2**31, RND.randint(-1000, 1000)])
    if t in (FD.TYPE_INT64, FD.TYPE_SINT64, FD.TYPE_SFIXED64):
        return RND.choice([0, 1, -1, 2**63 - 1, -2**63, RND.randint(-2**40, 2**40)])
    if t in (FD.TYPE_UINT32, FD.TYPE_FIXED32):
        return RND.choice([0, 1, 2**32 - 1, RND.randint(0, 1000)])
    if t in (FD.TYPE_UINT64, FD.TYPE_FIXED64):
        return RND.choice([0, 1, 2**64 - 1, RND.randint(0, 2**50)])
    if t == FD.TYPE_DOUBLE:
        return RND.choice([0.0, 1.5, -1e300, 1e-300, RND.random() * 1e6, math.inf, math.nan, 0.1])
    if t == FD.TYPE_FLOAT:
        return RND.choice([0.0, 1.5, -2.5e10, 0.1, 3.4028234663852886e38, 1e-40, -math.inf])
    if t == FD.TYPE_BOOL:
        return RND.choice([True, False])
    if t == FD.TYPE_STRING:
        return rstr()
    if t == FD.TYPE_BYTES:
        return bytes(RND.randint(0, 255) for _ in range(RND.randint(0, 6)))
    # enums: a declared value, or an undeclared number (open enums only)
    vals = [v.number for v in f.enum_type.values]
    if f.enum_type.full_name != "google.protobuf.NullValue" and f.file.syntax == "proto3":
        vals.append(77)
    return RND.choice(vals)


def fill_wkt(msg, name, depth):
    """Fills a well-known type; False when NAME is not one."""
    if name == "google.protobuf.Timestamp":
        msg.seconds = RND.randint(-62135596800, 253402300799)
        msg.nanos = RND.choice([0, 1000, 5000000, 999999999])
    elif name == "google.protobuf.Duration":
        s, n = RND.randint(-10**6, 10**6), RND.choice([0, 1000, 500000000, 1])
        msg.seconds, msg.nanos = s, (-n if s < 0 else n)
    elif name == "google.protobuf.FieldMask":
        for _ in range(RND.randint(0, 3)):
            msg.paths.append(RND.choice(["a", "b_c", "d.e_f", "x\\y"]))
    elif name == "google.protobuf.Value":
        k = RND.randint(0, 5) if depth < 3 else RND.randint(0, 3)
        if k == 0:
            msg.null_value = 0
        elif k == 1:
            msg.number_value = RND.choice([1.5, -2.0, 0.0, 1e20])
        elif k == 2:
            msg.string_value = rstr()
        elif k == 3:
            msg.bool_value = RND.choice([True, False])
        elif k == 4:
            fill(msg.struct_value, depth + 1)
        else:
            fill(msg.list_value, depth + 1)
    elif name == "google.protobuf.Struct":
        for _ in range(RND.randint(0, 3)):
            fill(msg.fields[rstr()], depth + 1)
    elif name == "google.protobuf.ListValue":
        for _ in range(RND.randint(0, 3)):
            fill(msg.values.add(), depth + 1)
    elif name == "google.protobuf.Any":
        inner_type = RND.choice(["pbtest.Scalars", "google.protobuf.Timestamp",
                                 "google.protobuf.Struct", "pbtest.Nested",
                                 "google.protobuf.Empty", "google.protobuf.Int64Value"])
        inner = FACTORY.GetPrototype(POOL.FindMessageTypeByName(inner_type))()
        fill(inner, depth + 1)
        msg.Pack(inner)
    else:
        return False
    return True


def fill(msg, depth):
    """Sets about 60% of MSG's fields at random, nesting up to depth 5."""
    d = msg.DESCRIPTOR
    if fill_wkt(msg, d.full_name, depth):
        return
    for f in d.fields:
        if (depth > 4 and f.type == FD.TYPE_MESSAGE) or RND.random() < 0.4:
            continue
        oneof = f.containing_oneof
        if oneof and not oneof.name.startswith("_") and msg.WhichOneof(oneof.name):
            continue
        value = getattr(msg, f.name)
        if f.message_type and f.message_type.GetOptions().map_entry:
            kf = f.message_type.fields_by_name["key"]
            vf = f.message_type.fields_by_name["value"]
            for _ in range(RND.randint(0, 3)):
                k = scalar(kf)
                if vf.type == FD.TYPE_MESSAGE:
                    fill(value[k], depth + 1)
                else:
                    value[k] = scalar(vf)
        elif f.label == FD.LABEL_REPEATED:
            for _ in range(RND.randint(0, 3)):
                if f.type == FD.TYPE_MESSAGE:
                    fill(value.add(), depth + 1)
                else:
                    value.append(scalar(f))
        elif f.type == FD.TYPE_MESSAGE:
            fill(value, depth + 1)
            value.SetInParent()
        else:
            setattr(msg, f.name, scalar(f))


RANDOM_TYPES = ["pbtest.All", "pbtest.Wkt", "pbtest.Maps", "pbtest.Repeated", "pbtest.Scalars",
                "pbtest.Oneofs", "pbtest.Nested", "pbtest2.P2"]


def fix_required(m, depth=0):
    if not m.HasField("req"):
        m.req = 0
    if m.HasField("child") and depth < 6:
        fix_required(m.child, depth + 1)


def random_cases(pool, factory, n=150):
    global POOL, FACTORY
    POOL, FACTORY = pool, factory
    lines = []
    for i in range(n):
        t = RND.choice(RANDOM_TYPES)
        m = factory.GetPrototype(pool.FindMessageTypeByName(t))()
        fill(m, 2)
        if t == "pbtest2.P2":
            fix_required(m)
        dflt = i % 2
        js = json_format.MessageToJson(m, including_default_value_fields=bool(dflt),
                                       descriptor_pool=pool, indent=None)
        lines.append("%s %d %s %s\n" % (t, dflt, m.SerializeToString().hex() or "-",
                                        json.dumps(json.loads(js), separators=(",", ":"))))
    return lines


def main():
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        subprocess.run(["protoc", "-I" + HERE, "-I" + os.path.join(ROOT, "proto"),
                        "-I/usr/include", "--include_imports", "--descriptor_set_out=" + out,
                        os.path.join(HERE, "all.proto"), os.path.join(HERE, "p2.proto")],
                       check=True)
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    factory = message_factory.MessageFactory(pool)
    for name, type_name, text in CASES:
        cls = factory.GetPrototype(pool.FindMessageTypeByName(type_name))
        msg = cls()
        text_format.Parse(text, msg, descriptor_pool=pool)
        with open(os.path.join(HERE, name + ".bin"), "wb") as f:
            f.write(msg.SerializeToString(deterministic=True))
        for suffix, dflt in ((".json", False), (".dflt.json", True)):
            js = json_format.MessageToJson(msg, including_default_value_fields=dflt,
                                           descriptor_pool=pool, indent=None)
            with open(os.path.join(HERE, name + suffix), "w") as f:
                f.write(js + "\n")
    with open(os.path.join(HERE, "random.txt"), "w") as f:
        f.writelines(random_cases(pool, factory))
    with open(os.path.join(HERE, "cases.txt"), "w") as f:
        for name, type_name, _ in CASES:
            f.write("%s %s\n" % (name, type_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
