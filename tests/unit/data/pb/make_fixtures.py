#!/usr/bin/python3
"""Makes the fixtures of tests/unit/test_pb*.c with Google's own protobuf
(Debian python3-protobuf) so the C library is checked against it:
for each case below, CASE.bin (the wire bytes), CASE.json (json_format's
MessageToJson) and CASE.dflt.json (the same with default values emitted).

Run from the repository root after changing a case or a .proto:
    /usr/bin/python3 tests/unit/data/pb/make_fixtures.py
It needs protoc (protobuf-compiler) to compile all.proto and p2.proto.
"""
import json
import os
import subprocess
import sys
import tempfile

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, text_format
from google.protobuf import message_factory

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
        by: "\000" e: ZERO d: 0 b: false u: 1 f: 0.5 opt: 0'''),
    ("p2_min", "pbtest2.P2", "req: 0"),
]


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
    with open(os.path.join(HERE, "cases.txt"), "w") as f:
        for name, type_name, _ in CASES:
            f.write("%s %s\n" % (name, type_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
