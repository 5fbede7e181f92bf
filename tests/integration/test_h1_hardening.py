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


def dribble(port, data, piece=3, timeout=5.0):
    """Sends DATA PIECE bytes per write (no Nagle); returns what came back."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            for i in range(0, len(data), piece):
                s.sendall(data[i:i + piece])
        except OSError:
            pass   # answered and closed before the end: read the answer
        s.settimeout(timeout)
        out = b""
        try:
            while b"\r\n\r\n" not in out or len(out) < 12:
                b = s.recv(65536)
                if not b:
                    break
                out += b
        except (socket.timeout, ConnectionResetError):
            pass
        return out


def test_head_dribbled_in_small_pieces_is_parsed(portico):
    """A 24 KiB head in 3-byte writes: parsed once it is whole, same as at once."""
    d = portico('http = { max_header_size = 65536 }\n' + ROUTES)
    fields = "".join("X-F%02d: %s\r\n" % (i, chr(97 + i % 26) * 480) for i in range(50))
    head = ("GET /x HTTP/1.1\r\nHost: h\r\n%sConnection: close\r\n\r\n" % fields).encode()
    assert len(head) > 24000
    resp = dribble(d.port, head)
    assert status_of(resp) == 200, resp[:200]


def test_bad_byte_in_dribbled_head_is_400(portico):
    d = portico(ROUTES)
    head = b"GET /x HTTP/1.1\r\nHost: h\r\nX-A: " + b"a" * 3000 + b"\x01" + b"b" * 3000 + b"\r\n\r\n"
    resp = dribble(d.port, head, piece=5)
    assert status_of(resp) == 400, resp[:200]
    assert d.proc.poll() is None
