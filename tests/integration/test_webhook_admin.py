"""The webhook inbox on the admin listener (issue 16 item 2): list, show
(credentials hidden), replay one job or every job in a state, behind the
admin token, with hostile and wrong requests answered clearly."""
import sqlite3
import time

import pytest
import requests

from conftest import free_port, raw_request, wait_port
from test_admin import admin_block, AUTH
from test_webhook import (PLUGINS, body_for, cli, count, db_path, post, stripe_event,
                          stripe_headers, wait_state, abi_minor)

pytestmark = pytest.mark.skipif(abi_minor() < 9, reason="needs the ABI 1.9 core")


@pytest.fixture
def inbox(portico, tmp_path):
    aport = free_port()
    d = portico(body_for(tmp_path) + admin_block(aport), plugins_dir=PLUGINS, workers=2,
                start=False)
    d.start()
    assert wait_port(aport, proc=d.proc), d.log()
    d.admin = f"http://127.0.0.1:{aport}"
    return d


def get(d, path, **kw):
    return requests.get(d.admin + path, headers=AUTH, timeout=10, **kw)


def test_list_show_and_replay_a_dead_job(inbox):
    d = inbox
    eid, body = stripe_event(kind="test.always_error")
    assert post(d, "/hooks/stripe", body, stripe_headers(body)).status_code == 200
    ok_id, ok_body = stripe_event()
    assert post(d, "/hooks/stripe", ok_body, stripe_headers(ok_body)).status_code == 200
    row = wait_state(d, eid, "dead")
    wait_state(d, ok_id, "done")
    r = get(d, "/webhooks?state=dead&source=stripe")
    assert r.status_code == 200, r.text
    jobs = r.json()["jobs"]
    assert [j["event_id"] for j in jobs] == [eid]
    assert jobs[0]["state"] == "dead" and jobs[0]["attempts"] == 3
    assert "the handler is broken" in jobs[0]["last_error"]
    assert {j["event_id"] for j in get(d, "/webhooks").json()["jobs"]} >= {eid, ok_id}
    assert get(d, "/webhooks?limit=1").json()["jobs"][0]["event_id"] == ok_id
    one = get(d, f"/webhooks/{row['id']}").json()
    assert one["event_id"] == eid and one["body"] == body.decode()
    # each failed run, with why
    assert [r["n"] for r in one["runs"]] == [1, 2, 3], one["runs"]
    assert all(r["outcome"] != "done" and "the handler is broken" in r["error"]
               for r in one["runs"]), one["runs"]
    # the signature is a credential: never shown
    sig = stripe_headers(body)["Stripe-Signature"].split("v1=")[1]
    assert sig not in get(d, f"/webhooks/{row['id']}").text
    assert one["headers"].get("stripe-signature") == "***"
    # replay after the fix: processed once more, now successfully
    requests.post(d.url + "/fix", timeout=5)
    r = requests.post(d.admin + f"/webhooks/{row['id']}/replay", headers=AUTH, timeout=10)
    assert r.status_code == 200 and r.json() == {"ok": True, "replayed": 1}, r.text
    wait_state(d, eid, "done")
    assert count(d, "stripe", eid) == 1
    assert d.wait_log("admin: replayed 1 job")


def test_replay_by_state(inbox):
    d = inbox
    ids = []
    for _ in range(3):
        eid, body = stripe_event(kind="test.always_error")
        assert post(d, "/hooks/stripe", body, stripe_headers(body)).status_code == 200
        ids.append(eid)
    for eid in ids:
        wait_state(d, eid, "dead")
    requests.post(d.url + "/fix", timeout=5)
    r = requests.post(d.admin + "/webhooks/replay?state=dead&source=stripe", headers=AUTH,
                      timeout=10)
    assert r.status_code == 200 and r.json()["replayed"] == 3, r.text
    for eid in ids:
        wait_state(d, eid, "done")


def attempt_rows(d, job_id):
    con = sqlite3.connect(f"file:{db_path(d)}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute("SELECT n, outcome FROM attempts WHERE job_id = ? ORDER BY rowid",
                           (job_id,)).fetchall()
    finally:
        con.close()


def test_replay_of_a_done_job_keeps_its_success(inbox):
    # a success is recorded by the job's row alone; a replay first keeps it
    # as a row of attempts, so `show` lists both runs afterwards
    d = inbox
    eid, body = stripe_event()
    assert post(d, "/hooks/stripe", body, stripe_headers(body)).status_code == 200
    row = wait_state(d, eid, "done")
    assert row["attempts"] == 1 and attempt_rows(d, row["id"]) == []
    out = cli(d, "show", str(row["id"]))
    assert out.returncode == 0 and "#1 " in out.stdout and "done" in out.stdout, out
    r = requests.post(d.admin + f"/webhooks/{row['id']}/replay", headers=AUTH, timeout=10)
    assert r.status_code == 200 and r.json()["replayed"] == 1, r.text
    assert attempt_rows(d, row["id"]) == [(1, "done")]
    for _ in range(100):
        again = wait_state(d, eid, "done")
        if again["updated_at"] != row["updated_at"]:
            break
        time.sleep(0.05)
    assert count(d, "stripe", eid) == 2
    out = cli(d, "show", str(row["id"])).stdout
    assert out.count("  #1 ") == 2 and out.count(" done") >= 2, out
    # the admin page lists the same runs, in order
    j = requests.get(d.admin + f"/webhooks/{row['id']}", headers=AUTH, timeout=10).json()
    assert [(r["n"], r["outcome"]) for r in j["runs"]] == [(1, "done"), (1, "done")], j
    assert j["runs"][0]["at_ms"] <= j["runs"][1]["at_ms"]
    assert all(r["duration_ms"] >= 0 and r["error"] is None for r in j["runs"])


def test_bad_requests_get_clear_answers(inbox):
    d = inbox
    assert requests.get(d.admin + "/webhooks", timeout=5).status_code == 401
    for path, code in (("/webhooks?state=bogus", 400), ("/webhooks?limit=0", 400),
                       ("/webhooks?limit=99999", 400), ("/webhooks?nope=1", 400),
                       ("/webhooks?source", 400),
                       ("/webhooks/999999", 404), ("/webhooks/abc", 404),
                       ("/webhooks/-1", 404), ("/webhooks/1/x", 404),
                       ("/webhooks/" + "9" * 40, 404), ("/webhooksx", 404)):
        r = get(d, path)
        assert r.status_code == code, (path, r.status_code, r.text)
        if code != 404 or path.startswith("/webhooks/"):
            assert "error" in r.json(), path
    r = requests.post(d.admin + "/webhooks/999999/replay", headers=AUTH, timeout=5)
    assert r.status_code == 409
    r = requests.post(d.admin + "/webhooks/replay", headers=AUTH, timeout=5)
    assert r.status_code == 400 and "state" in r.json()["error"]
    assert requests.delete(d.admin + "/webhooks", headers=AUTH, timeout=5).status_code == 405
    assert requests.post(d.admin + "/webhooks", headers=AUTH, timeout=5).status_code == 405
    # a malformed escape, sent as is (requests would re-quote it)
    port = int(d.admin.rsplit(":", 1)[1])
    raw = raw_request(port, b"GET /webhooks?source=%zz HTTP/1.1\r\nHost: x\r\n"
                      b"Authorization: " + AUTH["Authorization"].encode() + b"\r\n\r\n")
    assert raw.startswith(b"HTTP/1.1 400"), raw[:200]
    # still serving
    assert get(d, "/webhooks").status_code == 200
