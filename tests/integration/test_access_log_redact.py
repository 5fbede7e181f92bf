"""The access log never shows credentials sent in a query string.

Browsers' WebSockets and SSE can only send a token in the URL
(`?access_token=` for the jwt filter), so the log writes the values of
credential-looking query parameters as REDACTED: a default list, replaced by
`access_log.redact`. Names match case-insensitively; the rest of the query,
and parameters that merely contain such a name, are logged as sent.
"""
import json

import requests

ROUTE = 'route { method = "GET", path = "/x", handler = "static", body = "x" }\n'


def lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def wait_lines(path, n):
    import time
    for _ in range(100):
        try:
            got = lines(path)
        except FileNotFoundError:
            got = []
        if len(got) >= n:
            return got
        time.sleep(0.05)
    return lines(path)


def test_default_list_redacts_tokens_in_query_and_target(portico, tmp_path):
    alog = tmp_path / "a.log"
    tlog = tmp_path / "t.log"
    d = portico(ROUTE + f'access_log = {{ file = "{alog}", format = "json" }}\n')
    requests.get(d.url + "/x?access_token=eyJhbGciOi.secret.sig&page=2&API_KEY=k1&"
                 "tokens=keep&token", timeout=5)
    got = wait_lines(alog, 1)[-1]
    assert got["query"] == "access_token=REDACTED&page=2&API_KEY=REDACTED&tokens=keep&token"
    assert "secret" not in json.dumps(got) and "k1" not in json.dumps(got)
    # the text format's $target too
    d.stop()
    d2 = portico(ROUTE + f'access_log = {{ file = "{tlog}", format = "$target $query" }}\n')
    requests.get(d2.url + "/x?password=hunter2&q=a%26b", timeout=5)
    import time
    for _ in range(100):
        if tlog.exists() and tlog.read_text().strip():
            break
        time.sleep(0.05)
    text = tlog.read_text()
    assert "/x?password=REDACTED&q=a%26b password=REDACTED&q=a%26b" in text, text
    assert "hunter2" not in text


def test_the_list_is_configurable_and_can_be_emptied(portico, tmp_path):
    alog = tmp_path / "a.log"
    d = portico(ROUTE + f'access_log = {{ file = "{alog}", format = "json", '
                'redact = { "session" } }\n')
    requests.get(d.url + "/x?session=s1&access_token=t1", timeout=5)
    assert wait_lines(alog, 1)[-1]["query"] == "session=REDACTED&access_token=t1"
    d.stop()
    alog2 = tmp_path / "b.log"
    d = portico(ROUTE + f'access_log = {{ file = "{alog2}", format = "json", redact = {{}} }}\n')
    requests.get(d.url + "/x?access_token=t2", timeout=5)
    assert wait_lines(alog2, 1)[-1]["query"] == "access_token=t2"


def test_a_bad_list_refuses_the_config(portico, tmp_path):
    for bad in ('{ 1 }', '{ "" }', '{ a = "b" }', "{ " + ", ".join(['"n%d"' % i for i in range(33)]) + " }"):
        d = portico(ROUTE + f'access_log = {{ file = "{tmp_path}/c.log", redact = {bad} }}\n',
                    start=False)
        d.start(expect_ok=False)
        assert d.proc.wait(10) != 0
        assert "access_log.redact" in d.log() + d.proc.stdout.read().decode(), bad
