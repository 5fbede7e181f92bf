#!/usr/bin/python3
"""The grpcio peer of grpc_bench.py: bench.Echo from grpc_echo.proto on
Debian's python3-grpcio, with the asyncio server (grpc.aio, the faster of
grpcio's two in Python) and message classes protoc generated (--python_out).

    Echo  unary: answers the request message (decoded, then encoded again)
    Chat  bidi: sends every message back as it comes

    /usr/bin/python3 grpc_peer.py PORT PB2_DIR   (127.0.0.1 only, plaintext)

PB2_DIR holds grpc_echo_pb2.py (protoc --python_out=PB2_DIR grpc_echo.proto).
"""
import asyncio
import signal
import sys

import grpc

sys.path.insert(0, sys.argv[2])
import grpc_echo_pb2 as pb  # noqa: E402


async def echo(request, context):
    return request


async def chat(requests, context):
    async for msg in requests:
        yield msg


async def main(port):
    server = grpc.aio.server()
    handlers = {
        "Echo": grpc.unary_unary_rpc_method_handler(
            echo, request_deserializer=pb.Msg.FromString,
            response_serializer=pb.Msg.SerializeToString),
        "Chat": grpc.stream_stream_rpc_method_handler(
            chat, request_deserializer=pb.Msg.FromString,
            response_serializer=pb.Msg.SerializeToString),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler("bench.Echo",
                                                                          handlers),))
    if not server.add_insecure_port(f"127.0.0.1:{port}"):
        sys.exit(f"grpc_peer.py: cannot listen on 127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop(0)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
