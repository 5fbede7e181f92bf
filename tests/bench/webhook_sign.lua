-- tests/bench/webhook_sign.lua - wrk script for webhook_bench.py: every request
-- a fresh Standard Webhooks event (a unique webhook-id, the current
-- timestamp, a 1 KB JSON body) signed with HMAC-SHA256 through libcrypto by
-- LuaJIT FFI, so the signing costs the load generator microseconds.
-- WH_SECRET (whsec_...) picks the secret, WH_PATH overrides the URL's path; WH_DUMP=1
-- prints the first request to stderr.
local ffi = require("ffi")
ffi.cdef[[
typedef struct evp_md_st EVP_MD;
const EVP_MD *EVP_sha256(void);
unsigned char *HMAC(const EVP_MD *evp_md, const void *key, int key_len,
                    const unsigned char *d, size_t n, unsigned char *md,
                    unsigned int *md_len);
int EVP_EncodeBlock(unsigned char *t, const unsigned char *f, int n);
]]
local crypto = ffi.load("crypto")
local b64chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local b64buf = ffi.new("unsigned char[64]")
local function b64enc(p, n)
  local len = crypto.EVP_EncodeBlock(b64buf, p, n)
  return ffi.string(b64buf, len)
end
local function b64dec(data)
  data = data:gsub('[^' .. b64chars .. '=]', '')
  return (data:gsub('.', function(x)
    if x == '=' then return '' end
    local r, f = '', (b64chars:find(x) - 1)
    for i = 6, 1, -1 do r = r .. (f % 2 ^ i - f % 2 ^ (i - 1) > 0 and '1' or '0') end
    return r
  end):gsub('%d%d%d?%d?%d?%d?%d?%d?', function(x)
    if #x ~= 8 then return '' end
    local c = 0
    for i = 1, 8 do c = c + (x:sub(i, i) == '1' and 2 ^ (8 - i) or 0) end
    return string.char(c)
  end))
end

local secret = os.getenv("WH_SECRET") or "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
local key = b64dec(secret:gsub("^whsec_", ""))
local path = os.getenv("WH_PATH")   -- else the URL's path
local md = ffi.new("unsigned char[32]")
local mdlen = ffi.new("unsigned int[1]")
local pad = string.rep("x", 1024 - 120)
local counter = 0
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  math.randomseed(os.time() + (tid or 0))
  prefix = string.format("msg_%d_%d_%d_", tid or 0, os.time(), math.random(1, 1e9))
end

function request()
  counter = counter + 1
  local id = prefix .. counter
  local ts = tostring(os.time())
  local body = '{"type":"invoice.paid","id":"' .. id .. '","data":{"amount":1200,"pad":"' .. pad .. '"}}'
  local msg = id .. "." .. ts .. "." .. body
  crypto.HMAC(crypto.EVP_sha256(), key, #key, msg, #msg, md, mdlen)
  local sig = b64enc(md, mdlen[0])
  return wrk.format("POST", path or wrk.path, {
    ["content-type"] = "application/json",
    ["webhook-id"] = id,
    ["webhook-timestamp"] = ts,
    ["webhook-signature"] = "v1," .. sig,
  }, body)
end
if os.getenv("WH_DUMP") then
  local old = init
  init = function(a) old(a); io.stderr:write(request()) end
end
