"""An audit of the webhook plugin against issue 14 (items 1-8) and
doc/webhooks.md, through the running daemon with real clients: what
test_webhook*.py leaves out. The providers' signing formats at the edges
(Stripe's several v1= while a secret rolls, Svix's header names, a future
timestamp, GitHub's SHA-1 header), secrets read again at a reload, the
`event` table's fields, a handler's outcomes (an error that is not a
string, false with a reason that is not, nil), ordered = true, the CLI as
an operator and a test would use it (long ids whole in `list`, exit codes,
replay of a done event and of a dead delivery, replay by state and source,
purge's forms), per-source metrics of what was refused or given up, and
outbound Retry-After as an HTTP-date and past the cap."""
import email.utils
import json
import re
import signal
import time
import uuid

import pytest
import requests

from conftest import free_port
from test_webhook import (GITHUB, PLUGINS, STANDARD, STRIPE, STRIPE_OLD, abi_minor, body_for,
                          cli, github_headers, hmac_hex, jobs, post, standard_headers,
                          stripe_event, stripe_headers, wait_state)

pytestmark = pytest.mark.skipif(abi_minor() < 8, reason="the webhook plugin needs ABI 1.8")

FAST = "retry = { max = 3, base = 0.05, cap = 0.1 }"

AUDIT = r"""
local function record(event)
  shared.set("ev:" .. event.id, json.encode({
    id = event.id, source = event.source, type = event.type, attempt = event.attempt,
    received_at = event.received_at, body_len = #event.body,
    body_hex = (event.body:gsub(".", function(c) return string.format("%%02x", c:byte()) end)),
    json_nil = event.json == nil, custom = event.headers["x-custom"] }))
  shared.incr("n:" .. event.id, 1, 0)
end

webhook.source("gh", { path = "/h/gh", scheme = "github", secrets = { "%(github)s" }, %(fast)s },
  function(event)
    record(event)
    if event.type == "errobj" then error({ code = 7 }) end
    if event.type == "falsetable" then return false, { 1 } end
    if event.type == "nilwhy" then return nil, "this is done" end
    if event.type == "fail" and not shared.get("fixed") then return false, "not yet" end
  end)
webhook.source("other", { path = "/h/other", scheme = "github", secrets = { "%(github)s" },
  %(fast)s }, function(event) record(event); return false, "always" end)
webhook.source("stripe", { path = "/h/stripe", scheme = "stripe",
  secrets = { "%(stripe)s", "%(stripe_old)s" } }, record)
webhook.source("standard", { path = "/h/standard", scheme = "standard",
  secrets = { "%(standard)s" } }, record)
webhook.source("notol", { path = "/h/notol", scheme = "stripe", secrets = { "%(stripe)s" },
  tolerance = 0 }, record)
webhook.source("stripe-payments-production-eu-west", { path = "/h/long", scheme = "github",
  secrets = { "%(github)s" }, %(fast)s }, function() return false, "never" end)

route.get("/ev/:id", function(req)
  return { ev = shared.get("ev:" .. req.params.id), n = shared.get("n:" .. req.params.id) or 0 }
end)
route.post("/fix", function() shared.set("fixed", true); return { ok = true } end)
""" % {"github": GITHUB, "stripe": STRIPE, "stripe_old": STRIPE_OLD, "standard": STANDARD,
       "fast": FAST}


@pytest.fixture
def inbox(portico, tmp_path):
    aport = free_port()
    d = portico(body_for(tmp_path, AUDIT, extra=f'admin {{ listen = {{ address = "127.0.0.1", '
                                                f'port = {aport} }} }}'),
                plugins_dir=PLUGINS, workers=2)
    d.admin_port = aport
    return d


def seen(d, eid):
    r = requests.get(f"{d.url}/ev/{eid}", timeout=5).json()
    return (json.loads(r["ev"]) if r["ev"] else None), r["n"]


def gh(d, path, body, typ="push", delivery=None):
    h = github_headers(body, delivery=delivery)
    h["X-GitHub-Event"] = typ
    h["X-Custom"] = "yes"
    return post(d, path, body, h)


def line_of(out, needle):
    """The line of `webhooks list` output holding NEEDLE as a whole field."""
    for line in out.splitlines()[1:]:
        if needle in line.split():
            return line
    raise AssertionError(f"{needle} not in:\n{out}")


# ---- the CLI ---------------------------------------------------------------------------

def test_list_prints_long_event_ids_and_source_names_whole(inbox):
    # an id is what the operator copies into show/replay or searches for:
    # a GitHub-style id with a prefix, or a long source name, is never cut
    d = inbox
    gid = "delivery-" + str(uuid.uuid4()) + "-retry-of-" + uuid.uuid4().hex
    assert gh(d, "/h/long", b"{}", delivery=gid).status_code == 200
    row = wait_state(d, gid, "dead")
    out = cli(d, "list", "--state", "dead")
    assert out.returncode == 0, out.stderr
    line = line_of(out.stdout, gid)
    assert line.split()[0] == str(row["id"])
    assert "stripe-payments-production-eu-west" in line.split(), line
    out = cli(d, "list", "--source", "stripe-payments-production-eu-west")
    assert line_of(out.stdout, gid)
    # every row's STATE under the header's, long values or not
    out = cli(d, "list").stdout
    col = out.splitlines()[0].index("STATE")
    assert all(l[col:].split()[0] in ("received", "processing", "done", "retrying", "dead")
               for l in out.splitlines()[1:]), out
