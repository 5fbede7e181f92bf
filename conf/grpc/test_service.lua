-- grpc.testing.TestService, the service of grpc's interoperability tests
-- (doc/interop-test-descriptions.md in grpc's repository), written in Lua.
-- Its contract is Debian grpc-proto's grpc/testing/test.proto:
--
--   plugin "grpc" { protos = { "grpc/testing/test.proto" },
--                   import_paths = { "/usr/share/grpc-proto" } }
--   routes "conf/grpc"
--
-- tests/integration/test_grpc.py runs the interop cases against it with
-- grpcio; the demo can serve it the same way (doc/grpc.md).

local function payload(size)
  return { type = "COMPRESSABLE", body = string.rep("\0", size or 0) }
end

-- x-grpc-test-echo-initial comes back as initial metadata,
-- x-grpc-test-echo-trailing-bin as trailing metadata (custom_metadata).
local function echo_metadata(ctx)
  local v = ctx.metadata["x-grpc-test-echo-initial"]
  if v then ctx:set_header("x-grpc-test-echo-initial", v) end
  local t = ctx.metadata["x-grpc-test-echo-trailing-bin"]
  if t then ctx:set_trailer("x-grpc-test-echo-trailing-bin", t) end
end

-- response_status asks for that status (status_code_and_message).
local function echo_status(st)
  if st and st.code ~= 0 then error(grpc.error(st.code, st.message)) end
end

-- expect_compressed: the request must have come compressed (client_compressed_*).
local function check_compressed(expect, ctx)
  if expect and expect.value and not ctx.compressed then
    error(grpc.error("INVALID_ARGUMENT", "expected a compressed request message"))
  end
end

local function send_all(ctx, params)
  for _, p in ipairs(params or {}) do
    if p.interval_us and p.interval_us > 0 then sleep(p.interval_us / 1e6) end
    if p.compressed then ctx:set_compression(p.compressed.value) end
    ctx:send({ payload = payload(p.size) })
  end
end

grpc.service("grpc.testing.TestService", {
  EmptyCall = function(req, ctx)
    echo_metadata(ctx)
    return {}
  end,

  UnaryCall = function(req, ctx)
    echo_metadata(ctx)
    check_compressed(req.expect_compressed, ctx)
    echo_status(req.response_status)
    if req.response_compressed then ctx:set_compression(req.response_compressed.value) end
    return { payload = payload(req.response_size) }
  end,

  CacheableUnaryCall = function(req, ctx)
    return { payload = payload(req.response_size) }
  end,

  StreamingOutputCall = function(req, ctx)
    echo_metadata(ctx)
    send_all(ctx, req.response_parameters)
    echo_status(req.response_status)
  end,

  StreamingInputCall = function(ctx)
    local n = 0
    for m in ctx:recv() do
      check_compressed(m.expect_compressed, ctx)
      if m.payload then n = n + #m.payload.body end
    end
    return { aggregated_payload_size = n }
  end,

  FullDuplexCall = function(ctx)
    echo_metadata(ctx)
    for m in ctx:recv() do
      echo_status(m.response_status)
      send_all(ctx, m.response_parameters)
    end
  end,

  HalfDuplexCall = function(ctx)
    local all = {}
    for m in ctx:recv() do all[#all + 1] = m end
    for _, m in ipairs(all) do send_all(ctx, m.response_parameters) end
  end,
  -- UnimplementedCall has no function: it answers UNIMPLEMENTED
})
