"""An audit of the webhook plugin against issue 14 (items 1-8) and
doc/webhooks.md, through the running daemon with real clients: what
test_webhook*.py leaves out. The providers' signing formats at the edges
(Stripe's several v1= while a secret rolls, Svix's header names, a future
timestamp, GitHub's SHA-1 header), secrets read again at a reload, the
`event` table's fields, a handler's outcomes (an error that is not a
string, false with a reason that is not, nil), ordered = true, the CLI as
an operator and a test would use it (long ids whole in `list`, exit codes,
replay of a done event and of a dead delivery, replay by state and source,
purge's forms), per-source metrics of what was refused or given up and
the queue's lag, the retry backoff's bounds, writes over max_pending (503,
Retry-After), an event cut by a stop run again after the start, a source
declared from a handler, and outbound: a target no attempt could reach
refused at send, Retry-After as an HTTP-date and past the cap."""
import email.utils
import json
import os
import re
import signal
import time
import uuid

import pytest
import requests

from conftest import free_port, wait_port
import test_webhook_send as outb
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

webhook.source("gh", { path = "/h/gh", scheme = "github", secrets = { "%(github)s" }, %(fast)s,
  max_body = 4096 },
  function(event)
    record(event)
    if event.type == "errobj" then error({ code = 7 }) end
    if event.type == "falsetable" then return false, { 1 } end
    if event.type == "nilwhy" then return nil, "this is done" end
    if event.type == "longerr" then error(string.rep("e", 3000), 0) end
    if event.type == "longfalse" then return false, string.rep("f", 5000) end
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

webhook.source("later", { path = "/h/later", scheme = "github", secrets = { "%(github)s" },
  retry = { max = 3, base = 60, cap = 60 } }, function(event) record(event); return false, "later" end)

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
    # the admin listener may come up a moment after the main one
    assert wait_port(aport, proc=d.proc), d.log()
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


# ---- the handler: event fields and outcomes ---------------------------------------------

def test_event_fields_as_documented(inbox):
    d = inbox
    body = b"\x00\xff\x10raw"          # not UTF-8, not JSON: byte for byte, json nil
    gid = str(uuid.uuid4())
    t0 = time.time()
    r = gh(d, "/h/gh", body, typ="bin", delivery=gid)
    assert r.status_code == 200, r.text
    wait_state(d, gid, "done")
    ev, n = seen(d, gid)
    assert n == 1
    assert ev["id"] == gid and ev["source"] == "gh" and ev["type"] == "bin"
    assert ev["attempt"] == 1 and ev["body_len"] == len(body) and ev["body_hex"] == body.hex()
    assert ev["json_nil"] is True
    assert ev["custom"] == "yes"                      # headers: lowercase names
    assert isinstance(ev["received_at"], float) and t0 - 1 <= ev["received_at"] <= time.time()


@pytest.mark.parametrize("typ, state, attempts, why", [
    ("errobj", "dead", 3, "handler error"),            # error({...}): retried, then dead
    ("falsetable", "dead", 3, "the handler returned false"),
    ("nilwhy", "done", 1, None),                       # only exactly false retries
])
def test_handler_outcomes_by_what_it_returns(inbox, typ, state, attempts, why):
    d = inbox
    gid = str(uuid.uuid4())
    assert gh(d, "/h/gh", b"{}", typ=typ, delivery=gid).status_code == 200
    row = wait_state(d, gid, state)
    assert row["attempts"] == attempts and row["last_error"] == why, row
    assert seen(d, gid)[1] == attempts


def test_a_long_error_is_kept_to_its_first_4096_bytes_as_documented(inbox):
    d = inbox
    ids = {t: str(uuid.uuid4()) for t in ("longerr", "longfalse")}
    for t, gid in ids.items():
        assert gh(d, "/h/gh", b"{}", typ=t, delivery=gid).status_code == 200
    assert wait_state(d, ids["longerr"], "dead")["last_error"] == "e" * 3000
    assert wait_state(d, ids["longfalse"], "dead")["last_error"] == "f" * 4096


def test_the_last_failed_attempt_is_logged_dead_not_will_be_retried(inbox):
    d = inbox
    gid = str(uuid.uuid4())
    assert gh(d, "/h/other", b"{}", delivery=gid).status_code == 200
    wait_state(d, gid, "dead")
    assert d.wait_log(f"event {gid} is dead after 3 attempts: always")
    log = d.log()
    assert f"event {gid} (attempt 2) will be retried: always" in log
    assert f"event {gid} (attempt 3) will be retried" not in log, log[-2000:]


ORDERED = r"""
local function h(event)
  local n = shared.incr("seq:" .. event.source, 1, 0)
  shared.set("at:" .. event.source .. ":" .. n, event.json.n .. "/" .. event.attempt)
  if event.json.n == 1 and event.attempt == 1 then return false, "first fails once" end
end
webhook.source("ord", { path = "/h/ord", scheme = "github", secrets = { "%s" }, ordered = true,
  retry = { max = 3, base = 0.5, cap = 0.5 } }, h)
webhook.source("unord", { path = "/h/unord", scheme = "github", secrets = { "%s" },
  retry = { max = 3, base = 0.5, cap = 0.5 } }, h)
route.get("/seq/:s", function(req)
  local out = {}
  for i = 1, shared.get("seq:" .. req.params.s) or 0 do
    out[i] = shared.get("at:" .. req.params.s .. ":" .. i)
  end
  return { seq = out }
end)
""" % (GITHUB, GITHUB)


def test_ordered_source_holds_later_events_behind_a_retry(portico, tmp_path):
    d = portico(body_for(tmp_path, ORDERED), plugins_dir=PLUGINS, workers=2)
    for src in ("ord", "unord"):
        for n in range(1, 5):
            b = json.dumps({"n": n}).encode()
            assert post(d, "/h/" + src, b, github_headers(b)).status_code == 200

    def seq(src):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            s = requests.get(f"{d.url}/seq/{src}", timeout=5).json()["seq"]
            if len(s) == 5:
                return s
            time.sleep(0.05)
        raise AssertionError(s)
    assert seq("ord") == ["1/1", "1/2", "2/1", "3/1", "4/1"]
    un = seq("unord")                    # not ordered: the others pass the retrying one
    assert un[0] == "1/1" and un[-1] == "1/2", un


# ---- declarations: the sentence a user reads ------------------------------------------------

@pytest.mark.parametrize("opts, words", [
    ('scheme = "github", secrets = { "s" }, tolerence = 10',
     'webhook.source "x": unknown option tolerence'),
    ('scheme = "github", secrets = { "s", env("PT_AUDIT_UNSET_VAR", "") }',
     'webhook.source "x": secrets[2]: a secret is empty (is its environment variable set?)'),
    ('scheme = "stripe", secrets = { "sk_live_123" }', 'webhook.source "x": secrets[1]: a Stripe'),
    ('scheme = "github", secrets = { "s" }, tolerance = 300', 'webhook.source "x": tolerance has no effect'),
    ('scheme = "github", secrets = "s"', 'webhook.source "x": secrets must be a non-empty list of strings (write '
     'secrets = { "..." })'),
])
def test_a_bad_option_is_one_sentence_naming_the_source_once(portico, tmp_path, opts, words):
    script = '\nwebhook.source("x", { path = "/x", %s }, function() end)\n' % opts
    d = portico(body_for(tmp_path, script), plugins_dir=PLUGINS, start=False)
    d.start(expect_ok=False)
    d.proc.wait(15)
    out = d.proc.stdout.read().decode() + d.log()
    assert d.proc.returncode != 0
    assert "hooks.lua:2: " + words in out, out[-2000:]
    assert "webhook.source: webhook.source" not in out, out[-2000:]


def test_cli_list_show_replay_purge_as_an_operator_runs_them(inbox):
    d = inbox
    ids = {k: str(uuid.uuid4()) for k in ("fail", "other", "done", "later")}
    assert gh(d, "/h/gh", b'{"k":"fail"}', typ="fail", delivery=ids["fail"]).status_code == 200
    assert gh(d, "/h/other", b"{}", delivery=ids["other"]).status_code == 200
    assert gh(d, "/h/gh", '{"k":"d\u00e9j\u00e0"}'.encode(), delivery=ids["done"]).status_code == 200
    assert gh(d, "/h/later", b"{}", delivery=ids["later"]).status_code == 200
    fail = wait_state(d, ids["fail"], "dead")
    wait_state(d, ids["other"], "dead")
    done = wait_state(d, ids["done"], "done")
    wait_state(d, ids["later"], "retrying")

    out = cli(d, "list", "--state", "dead", "--source", "gh")
    assert out.returncode == 0, out.stderr
    rows = out.stdout.splitlines()[1:]
    assert len(rows) == 1 and rows[0].split()[0] == str(fail["id"]), out.stdout
    assert line_of(cli(d, "list", "--state=dead", "--source=other").stdout, ids["other"])

    out = cli(d, "show", str(done["id"]))
    assert out.returncode == 0, out.stderr
    assert re.search(r"^\s+x-custom: yes$", out.stdout, re.M), out.stdout
    assert '{"k":"d\u00e9j\u00e0"}' in out.stdout and re.search(r"^state:\s+done", out.stdout, re.M)
    for args, code, words in ((("show", "999999"), 1, "no job 999999"),
                              (("show", "abc"), 2, "usage:"), (("show",), 2, "usage:"),
                              (("replay", "999999"), 1, "no job 999999"),
                              (("replay",), 2, "usage:"), (("frobnicate",), 2, "usage:"),
                              (("list", "--state", "bogus"), 2, "unknown state"),
                              (("replay", "--state", "processing"), 2, "usage:")):
        r = cli(d, *args)
        assert r.returncode == code and words in r.stderr, (args, r.returncode, r.stderr)
        assert r.stdout == "", (args, r.stdout)

    # replay by state and source: only that source's dead events
    requests.post(d.url + "/fix", timeout=5)
    out = cli(d, "replay", "--state", "dead", "--source", "gh")
    assert out.returncode == 0 and "replayed 1 job" in out.stdout, out
    wait_state(d, ids["fail"], "done")
    time.sleep(0.4)
    assert jobs(d, "event_id = ?", (ids["other"],))[0]["state"] == "dead"
    # a done event replayed runs once more
    assert seen(d, ids["done"])[1] == 1
    out = cli(d, "replay", str(done["id"]))
    assert out.returncode == 0 and "replayed 1 job" in out.stdout, out
    deadline = time.monotonic() + 10
    while seen(d, ids["done"])[1] < 2:
        assert time.monotonic() < deadline, d.log()[-2000:]
        time.sleep(0.05)
    wait_state(d, ids["done"], "done")

    # purge: the documented forms; what is not finished stays
    for form in (("--older", "30d"), ("--older", "12h"), ("--older=90m",), ("--older", "600s")):
        r = cli(d, "purge", *form)
        assert r.returncode == 0 and r.stdout.startswith("purged 0 jobs"), (form, r)
    for form in ((), ("--older",), ("--older", "30"), ("--older", "2w"), ("--older", "-1d"),
                 ("--older", "1.5h"), ("--older", "30d", "--source", "gh")):
        r = cli(d, "purge", *form)
        assert r.returncode == 2 and "usage:" in r.stderr, (form, r)
    time.sleep(1.1)
    r = cli(d, "purge", "--older", "1s")
    assert r.returncode == 0 and r.stdout.startswith("purged 3 jobs"), r
    left = jobs(d)
    assert [j["event_id"] for j in left] == [ids["later"]], left


# ---- verification: the providers' formats at their edges --------------------------------------

def test_stripe_rolling_secret_header_with_two_v1_and_a_removed_secret(inbox):
    # while a secret rolls, Stripe sends one v1= per secret; a request
    # passes when any pair matches. v0= and unknown keys are ignored.
    d = inbox
    eid, body = stripe_event()
    ts = int(time.time())
    signed = f"{ts}.".encode() + body
    h = {"Stripe-Signature": f"t={ts},v1={hmac_hex('whsec_not_ours_at_all', signed)},"
                            f"v0={'0' * 64},v1={hmac_hex(STRIPE_OLD, signed).upper()},x=1",
         "Content-Type": "application/json"}
    r = post(d, "/h/stripe", body, h)
    assert r.status_code == 200 and r.json() == {"ok": True, "id": eid}, r.text
    # signed with a secret the source does not list (any more): refused, why, not stored
    eid2, body2 = stripe_event()
    r = post(d, "/h/stripe", body2, stripe_headers(body2, secret="whsec_removed_last_month"))
    assert r.status_code == 401 and r.json() == {"error": "no signature matches"}, r.text
    r = post(d, "/h/stripe", body2, {"Stripe-Signature": f"t={ts},v0={'0' * 64}"})
    assert r.status_code == 401
    assert r.json() == {"error": "malformed Stripe-Signature header (no v1 signature)"}
    assert jobs(d, "event_id = ?", (eid2,)) == []
    wait_state(d, eid, "done")


@pytest.mark.parametrize("path, make", [
    ("/h/stripe", lambda b, ts: stripe_headers(b, ts=ts)),
    ("/h/standard", lambda b, ts: standard_headers(b, ts=ts)),
])
def test_stale_and_future_timestamps_are_401_with_why(inbox, path, make):
    d = inbox
    eid, body = stripe_event()
    now = int(time.time())
    for ts, words in ((now - 412, r"\(41[2-4] s old, 300 s allowed\)"),
                      (now + 1000, r"\(99[89] s in the future, 300 s allowed\)|"
                                   r"\(1000 s in the future, 300 s allowed\)")):
        r = post(d, path, body, make(body, ts))
        assert r.status_code == 401, r.text
        why = r.json()["error"]
        assert why.startswith("timestamp outside the tolerance "), why
        assert re.search(words, why), why
        assert d.wait_log(why)            # the same sentence in the log, at info
    assert jobs(d, "source = ?", (path.rsplit("/", 1)[1],)) == []
    # inside the window either way: accepted
    r = post(d, path, body, make(body, now - 250))
    assert r.status_code == 200, r.text


def test_tolerance_0_checks_no_timestamp(inbox):
    d = inbox
    eid, body = stripe_event()
    r = post(d, "/h/notol", body, stripe_headers(body, ts=1000000000))   # 2001
    assert r.status_code == 200 and r.json()["id"] == eid, r.text
    r = post(d, "/h/notol", body + b" ", stripe_headers(body, ts=1000000000))
    assert r.status_code == 401       # the signature is still checked


def test_standard_svix_headers_and_several_signatures(inbox):
    d = inbox
    body = b'{"type":"invoice.paid","data":{"id":"in_1"}}'
    h = standard_headers(body)
    # Svix's names when no webhook-* header is there
    svix = {("svix-" + k[len("webhook-"):]): v for k, v in h.items() if k.startswith("webhook-")}
    r = post(d, "/h/standard", body, svix)
    assert r.status_code == 200 and r.json()["id"] == h["webhook-id"], r.text
    # several space-separated signatures, the good one last, an asymmetric v1a one ignored
    h2 = standard_headers(body)
    h2["webhook-signature"] = ("v1," + "A" * 43 + "= v1a,c29tZXRoaW5n " + h2["webhook-signature"])
    r = post(d, "/h/standard", body, h2)
    assert r.status_code == 200 and r.json()["id"] == h2["webhook-id"], r.text
    row = wait_state(d, h2["webhook-id"], "done")
    assert row["type"] == "invoice.paid"
    # the same message again (a sender's retry): a duplicate, not processed twice
    r = post(d, "/h/standard", body, h2)
    assert r.status_code == 200 and r.headers.get("x-portico-duplicate") == "1"
    time.sleep(0.3)
    assert seen(d, h2["webhook-id"])[1] == 1
    # a signature made for another message id: refused
    h3 = standard_headers(body)
    h3["webhook-id"] = "msg_other"
    r = post(d, "/h/standard", body, h3)
    assert r.status_code == 401 and r.json() == {"error": "no signature matches"}


def test_github_sha1_header_alone_is_refused_saying_why(inbox):
    import hashlib
    import hmac
    d = inbox
    body = b'{"zen":"x"}'
    h = github_headers(body)
    del h["X-Hub-Signature-256"]
    h["X-Hub-Signature"] = "sha1=" + hmac.new(GITHUB.encode(), body, hashlib.sha1).hexdigest()
    r = post(d, "/h/gh", body, h)
    assert r.status_code == 401
    assert r.json() == {"error": "missing X-Hub-Signature-256 header (the SHA-1 "
                                 "X-Hub-Signature is not accepted)"}
    assert jobs(d, "source = 'gh'") == []


# ---- secrets read at load and at each reload --------------------------------------------------

def test_secret_file_is_read_again_at_a_reload_and_a_removed_secret_refused(portico, tmp_path):
    sec = tmp_path / "stripe_whsec"
    sec.write_text("whsec_first_0123456789\n")       # as `echo` writes it: newline stripped
    script = ('webhook.source("s", { path = "/h/s", scheme = "stripe",\n'
              '  secrets = { secret_file("%s") } }, function() end)\n'
              'route.get("/gen", function() return GEN or "1" end)\n' % sec)
    d = portico(body_for(tmp_path, script), plugins_dir=PLUGINS)
    eid, body = stripe_event()
    r = post(d, "/h/s", body, stripe_headers(body, secret="whsec_first_0123456789"))
    assert r.status_code == 200, r.text

    def reload(marker):
        (tmp_path / "routes" / "hooks.lua").write_text(script + f'GEN = "{marker}"\n')
        d.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while requests.get(d.url + "/gen", timeout=5).text != marker:
            assert time.monotonic() < deadline, d.log()[-2000:]
            time.sleep(0.05)

    sec.write_text("whsec_second_abcdefghij\n")
    reload("2")
    eid, body = stripe_event()
    r = post(d, "/h/s", body, stripe_headers(body, secret="whsec_first_0123456789"))
    assert r.status_code == 401 and r.json()["error"] == "no signature matches", r.text
    r = post(d, "/h/s", body, stripe_headers(body, secret="whsec_second_abcdefghij"))
    assert r.status_code == 200, r.text
    # the file gone: the reload is refused with file:line, the running secret stays
    sec.unlink()
    (tmp_path / "routes" / "hooks.lua").write_text(script + 'GEN = "3"\n')
    d.signal(signal.SIGHUP)
    assert d.wait_log(f'hooks.lua:2: secret_file("{sec}"): No such file or directory', 10)
    eid, body = stripe_event()
    r = post(d, "/h/s", body, stripe_headers(body, secret="whsec_second_abcdefghij"))
    assert r.status_code == 200, r.text
    assert requests.get(d.url + "/gen", timeout=5).text == "2"


# ---- outbound ----------------------------------------------------------------------------------

@pytest.fixture
def receiver():
    r = outb.Receiver()
    yield r
    r.close()


def test_a_dead_delivery_is_replayed_from_the_cli_signed_afresh(portico, tmp_path, receiver):
    receiver.script["/refuses"] = [(400, {}, 0)]
    d = outb.daemon(portico, tmp_path)
    r = outb.send(d, receiver.url("/refuses"), {"type": "order.paid"},
                 retry={"max": 3, "base": 0.05, "cap": 1})
    msg_id = r.json()["id"]
    outb.wait_state(d, msg_id, "dead")
    job = outb.job_of(d, msg_id)
    line = line_of(outb.cli(d, "list", "--state", "dead", "--kind", "outbound").stdout, msg_id)
    assert receiver.url("/refuses") in line.split(), line      # the target, whole
    assert "order.paid" in line.split(), line                  # the event table's type
    time.sleep(1.1)                                            # a later second to sign with
    rep = outb.cli(d, "replay", job)
    assert rep.returncode == 0 and "replayed 1 job" in rep.stdout, rep
    got = receiver.wait_hits("/refuses", 2)
    text = outb.wait_state(d, msg_id, "done")
    assert [(o, s) for o, s, _ in outb.attempts(text)] == [("dead", 400), ("done", 200)], text
    assert got[1]["headers"]["webhook-id"] == msg_id
    assert int(got[1]["headers"]["webhook-timestamp"]) > int(got[0]["headers"]["webhook-timestamp"])
    assert outb.standard_ok(got[1]["headers"], got[1]["body"])


def test_retry_after_as_an_http_date_and_never_past_the_cap(portico, tmp_path, receiver):
    d = outb.daemon(portico, tmp_path)
    receiver.script["/date"] = [(503, {"Retry-After": email.utils.formatdate(time.time() + 3,
                                                                             usegmt=True)}, 0)]
    receiver.script["/capped"] = [(429, {"Retry-After": "3600"}, 0)]
    receiver.script["/garbled"] = [(429, {"Retry-After": "soon, please"}, 0), (408, {}, 0)]
    a = outb.send(d, receiver.url("/date"), {"a": 1}, retry={"max": 3, "base": 0.05, "cap": 10})
    b = outb.send(d, receiver.url("/capped"), {"a": 1}, retry={"max": 3, "base": 0.05, "cap": 1})
    c = outb.send(d, receiver.url("/garbled"), {"a": 1}, retry={"max": 3, "base": 0.05, "cap": 1})
    g = receiver.wait_hits("/date", 2, timeout=20)
    assert g[1]["t"] - g[0]["t"] >= 1.5, g        # the date asked for 2 to 3 s
    g = receiver.wait_hits("/capped", 2, timeout=20)
    assert g[1]["t"] - g[0]["t"] <= 2.5, g        # 3600 s asked, cap 1 s
    receiver.wait_hits("/garbled", 3, timeout=20)  # unreadable Retry-After: the backoff; 408 retried
    for r in (a, b, c):
        text = outb.wait_state(d, r.json()["id"], "done")
        assert outb.attempts(text)[-1][:2] == ("done", 200), text


# ---- metrics -------------------------------------------------------------------------------------

def test_metrics_count_what_was_refused_duplicated_and_given_up_per_source(inbox):
    d = inbox

    def metrics():
        text = requests.get(f"http://127.0.0.1:{d.admin_port}/metrics", timeout=5).text
        vals = {}
        for line in text.splitlines():
            m = re.match(r'(portico_webhook_\w+)\{source="([^"]+)"\} (\S+)$', line)
            if m:
                vals[(m.group(1)[len("portico_webhook_"):], m.group(2))] = float(m.group(3))
        return vals
    if not metrics():
        pytest.skip("this core does not serve labelled metrics")
    eid, body = stripe_event()
    assert post(d, "/h/stripe", body, stripe_headers(body)).status_code == 200
    assert post(d, "/h/stripe", body, stripe_headers(body)).status_code == 200      # duplicate
    assert post(d, "/h/stripe", body, stripe_headers(body, secret="whsec_nope")).status_code == 401
    bad_id = b'{"id":"evt_\\u0001","type":"x"}'
    r = post(d, "/h/stripe", bad_id, stripe_headers(bad_id))
    assert r.status_code == 400 and "control character" in r.json()["error"], r.text
    big = b'{"x":"' + b"a" * 5000 + b'"}'
    assert gh(d, "/h/gh", big).status_code == 413
    gid = str(uuid.uuid4())
    assert gh(d, "/h/other", b"{}", delivery=gid).status_code == 200
    wait_state(d, gid, "dead")
    wait_state(d, eid, "done")
    m = metrics()
    assert m[("received_total", "stripe")] == 1 and m[("duplicates_total", "stripe")] == 1
    assert m[("rejected_total", "stripe")] == 2          # a signature, an unusable id
    assert m[("processed_total", "stripe")] == 1
    assert m[("received_total", "gh")] == 0
    # the 413 is the core's, before the plugin: under the route's status class
    text = requests.get(f"http://127.0.0.1:{d.admin_port}/metrics", timeout=5).text
    assert re.search(r'^portico_http_requests_total\{route="/h/gh",method="POST",status="4xx",'
                     r'protocol="h1"\} [1-9]', text, re.M), text
    assert m[("retried_total", "other")] == 2 and m[("dead_total", "other")] == 1
    assert m[("processed_total", "other")] == 0
    assert all(m[("queue_lag_seconds", s)] >= 0 for s in ("gh", "other", "stripe"))


# ---- durable before acknowledged: the queue of writes full ----------------------------------------

def test_writes_over_max_pending_are_503_with_retry_after_and_never_acknowledged(portico, tmp_path):
    import threading
    d = portico(body_for(tmp_path, opts="max_pending = 1"), plugins_dir=PLUGINS, workers=2)
    res, lock = [], threading.Lock()

    def one(i):
        eid, body = stripe_event(eid=f"evt_pending_{i}")
        r = post(d, "/hooks/stripe", body, stripe_headers(body))
        with lock:
            res.append((eid, r.status_code, r.headers.get("retry-after"), r.text))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {s for _, s, _, _ in res} <= {200, 503}, res
    busy = [x for x in res if x[1] == 503]
    if not busy:
        pytest.skip("the writer kept up with 40 concurrent events: nothing waited")
    assert all(ra == "5" and "retry later" in text for _, _, ra, text in busy), busy
    assert d.wait_log("answered 503: too many events waiting to be stored")
    acked = {e for e, s, _, _ in res if s == 200}
    for eid in acked:
        wait_state(d, eid, "done")
    stored = {j["event_id"] for j in jobs(d)}
    assert stored == acked          # acknowledged = stored; a 503 stored nothing
    # the sender's retry of a refused one is taken
    eid = busy[0][0]
    body = stripe_event(eid=eid)[1]
    r = post(d, "/hooks/stripe", body, stripe_headers(body))
    assert r.status_code == 200 and "x-portico-duplicate" not in r.headers, r.text


SLOW = r"""
webhook.source("slow", { path = "/h/slow", scheme = "github", secrets = { "%s" } },
  function(event)
    shared.incr("start", 1, 0)
    if event.attempt == 1 then sleep(5) end
    shared.set("attempt", event.attempt)
  end)
route.get("/runs", function()
  return { start = shared.get("start") or 0, attempt = shared.get("attempt") or 0 }
end)
""" % GITHUB


def test_an_event_processing_at_a_stop_runs_again_after_the_start(portico, tmp_path):
    # at-least-once: a handler cut by a (graceful) stop is not lost
    d = portico(body_for(tmp_path, SLOW), plugins_dir=PLUGINS, workers=1)
    gid = str(uuid.uuid4())
    assert post(d, "/h/slow", b"{}", github_headers(b"{}", delivery=gid)).status_code == 200
    deadline = time.monotonic() + 10
    while requests.get(d.url + "/runs", timeout=5).json()["start"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert d.stop() == 0
    assert jobs(d, "event_id = ?", (gid,))[0]["state"] == "processing"
    d.start()
    row = wait_state(d, gid, "done")
    assert row["attempts"] == 2, row
    assert requests.get(d.url + "/runs", timeout=5).json() == {"start": 1, "attempt": 2}
    assert d.wait_log("interrupted by the last stop are due again")


BACKOFF = r"""
webhook.source("b", { path = "/h/b", scheme = "github", secrets = { "%s" },
  retry = { max = 4, base = 0.4, cap = 0.8 } }, function() return false, "again" end)
""" % GITHUB


def test_retry_backoff_follows_base_cap_and_jitter_then_dead_at_max(portico, tmp_path):
    import sqlite3
    from test_webhook import db_path
    d = portico(body_for(tmp_path, BACKOFF), plugins_dir=PLUGINS)
    gid = str(uuid.uuid4())
    assert post(d, "/h/b", b"{}", github_headers(b"{}", delivery=gid)).status_code == 200
    row = wait_state(d, gid, "dead")
    assert row["attempts"] == 4 and row["last_error"] == "again"
    con = sqlite3.connect(f"file:{db_path(d)}?mode=ro", uri=True, timeout=10)
    try:
        at = [r[0] for r in con.execute("SELECT at FROM attempts WHERE job_id = ? ORDER BY n",
                                        (row["id"],))]
    finally:
        con.close()
    assert len(at) == 4, at
    gaps = [(b - a) / 1000 for a, b in zip(at, at[1:])]
    # min(cap, base * 2^(n-1)) times [0.5, 1]: 0.2-0.4, 0.4-0.8, 0.4-0.8 (the cap),
    # plus the 250 ms poll that finds a retry come due
    for gap, (lo, hi) in zip(gaps, ((0.2, 0.4), (0.4, 0.8), (0.4, 0.8))):
        assert lo - 0.02 <= gap <= hi + 0.4, gaps


@pytest.mark.parametrize("target, why", [
    ("http://user:pw@127.0.0.1:9/x", "has user:password@ in it, which is not sent"),
    ("http://127.0.0.1:99999/x", "has a bad port (1 to 65535)"),
    ("http://127.0.0.1:0/x", "has a bad port (1 to 65535)"),
    ("http://127.0.0.1:/x", "has a bad port (1 to 65535)"),
    ("https://127.0.0.1:80x/x", "has a bad port (1 to 65535)"),
    ("http://:80/x", "has no host"),
    ("http://[::1/x", "has a malformed [IPv6] host"),
    ("http://bad!host/x", "has a host with a character no host name has"),
])
def test_a_target_no_attempt_could_reach_is_refused_at_send(portico, tmp_path, target, why):
    # not stored and then dead with "connection failed: invalid argument"
    d = outb.daemon(portico, tmp_path)
    r = outb.send(d, target, {"a": 1})
    assert r.status_code == 500, r.text
    assert d.wait_log(f'webhook.send: the target (argument 1) "{target}" {why}', 3), d.log()[-1500:]
    out = outb.cli(d, "list", "--kind", "outbound").stdout
    assert len(out.strip().splitlines()) == 1, out


def test_queue_lag_shows_a_backlog_and_returns_to_0(portico, tmp_path):
    aport = free_port()
    script = ('webhook.source("slow", { path = "/h/slow", scheme = "github", secrets = { "%s" } },'
              ' function() sleep(1) end)\n' % GITHUB)
    d = portico(body_for(tmp_path, script, opts="per_worker = 1",
                         extra=f'admin {{ listen = {{ address = "127.0.0.1", port = {aport} }} }}'),
                plugins_dir=PLUGINS, workers=1)

    def lag():
        text = requests.get(f"http://127.0.0.1:{aport}/metrics", timeout=5).text
        m = re.search(r'^portico_webhook_queue_lag_seconds\{source="slow"\} (\S+)$', text, re.M)
        if not m:
            pytest.skip("this core does not serve labelled metrics")
        return float(m.group(1))
    ids = []
    for i in range(3):
        gid = str(uuid.uuid4())
        ids.append(gid)
        assert post(d, "/h/slow", b"{}", github_headers(b"{}", delivery=gid)).status_code == 200
    seen_lag, deadline = 0.0, time.monotonic() + 6
    while time.monotonic() < deadline and seen_lag < 0.9:
        seen_lag = max(seen_lag, lag())
        time.sleep(0.2)
    assert seen_lag >= 0.9, seen_lag          # one slot, 1 s a job: the others wait
    for gid in ids:
        wait_state(d, gid, "done")
    deadline = time.monotonic() + 3
    while lag() != 0:
        assert time.monotonic() < deadline, lag()
        time.sleep(0.2)


def test_webhook_source_while_serving_is_an_error_not_a_silent_nothing(portico, tmp_path):
    # the routes are built when the scripts load: a source declared from a
    # handler could never receive anything
    script = r'''
route.get("/late", function()
  local ok, err = pcall(webhook.source, "late", { path = "/h/late", scheme = "github",
                                                  secrets = { "x" } }, function() end)
  return { ok = ok, err = tostring(err) }
end)
'''
    d = portico(body_for(tmp_path, script), plugins_dir=PLUGINS)
    for _ in range(2):        # the same again: the same sentence, not "defined twice"
        r = requests.get(d.url + "/late", timeout=5).json()
        assert r["ok"] is False, r
        assert r["err"].endswith('webhook.source: "late": sources are declared while the '
                                 'scripts load, not while serving'), r
    assert requests.post(d.url + "/h/late", data=b"{}", timeout=5).status_code == 404


def test_send_past_max_pending_returns_nil_and_why_never_a_lost_delivery(portico, tmp_path,
                                                                         receiver):
    import threading
    d = outb.daemon(portico, tmp_path, workers=2, start=False)
    d.write(d.text.replace('plugin "webhook" {}', 'plugin "webhook" { max_pending = 1 }'))
    d.start()
    res, lock = [], threading.Lock()

    def one(i):
        r = outb.send(d, receiver.url("/many"), {"i": i})
        with lock:
            res.append((r.status_code, r.json()))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    busy = [j for s, j in res if s == 503]
    if not busy:
        pytest.skip("the writer kept up with 40 concurrent sends: nothing waited")
    assert all(j == {"error": "webhook store unavailable: too many writes waiting to be "
                              "stored (max_pending)"} for j in busy), busy
    sent = sorted(j["id"] for s, j in res if s == 200)
    receiver.wait_hits("/many", len(sent))
    time.sleep(0.5)
    assert sorted(g["headers"]["webhook-id"] for g in receiver.hits("/many")) == sent


def test_cli_output_is_the_commands_own_not_another_plugins_warning(inbox):
    """graphql.so sits in the same plugins folder with no schema configured: the
    daemon's log says so, `portico webhooks list` (a command, its stderr the
    operator's) does not."""
    if not os.path.exists(os.path.join(PLUGINS, "graphql.so")):
        pytest.skip("graphql.so is not built")
    assert "no schema configured" in inbox.log()
    r = cli(inbox, "list")
    assert r.returncode == 0, r.stderr
    assert "no schema configured" not in r.stderr
    assert "graphql" not in r.stderr
