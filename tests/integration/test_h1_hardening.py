"""HTTP/1.1 hardening (issue 11): request-targets outside the URI grammar,
heads that arrive a few bytes at a time, and request trailers.

Everything goes over raw sockets to 127.0.0.1, bounded in size and time.
"""
import socket

import pytest

from conftest import raw_request

ROUTES = '''
route { method = { "GET", "POST" }, path = "/*rest", handler = "static", body = "ok" }
'''

# RFC 3986 leaves these out of URIs ('#' starts a fragment, never sent).
EXCLUDED = '#"<>\\^`{|}'


def status_of(resp):
    """The status code of the first response in RESP, or None."""
    if not resp.startswith(b"HTTP/1.1 "):
        return None
    return int(resp[9:12])


@pytest.mark.parametrize("ch", list(EXCLUDED))
def test_target_char_outside_uri_grammar_is_400(portico, ch):
    d = portico(ROUTES)
    for target in ("/a%sb" % ch, "/a?q=%s" % ch, "http://h/x%s" % ch):
        req = ("GET %s HTTP/1.1\r\nHost: h\r\n\r\n" % target).encode()
        resp = raw_request(d.port, req)
        assert status_of(resp) == 400, (target, resp[:200])
    assert d.proc.poll() is None


def test_percent_encoded_forms_of_excluded_chars_stay_fine(portico):
    d = portico(ROUTES)
    enc = "".join("%%%02X" % ord(c) for c in EXCLUDED)
    req = ("GET /a%s?q=%s HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
           % (enc, enc)).encode()
    resp = raw_request(d.port, req)
    assert status_of(resp) == 200, resp[:200]
