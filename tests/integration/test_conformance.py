"""Request-smuggling conformance: replays the aws/http-desync-guardian corpus
(../shared/corpora/http-desync-guardian/*.yaml) with the shared runner
../shared/conformance/desync-run.mjs against a running portico.

The runner checks that every "Severe" request is rejected and that no
"Compliant" request is answered 400. Known, deliberate deviations are listed
in KNOWN_FAILURES by the corpus file and test name the runner prints.
"""
import glob
import os
import re
import shutil
import subprocess

import pytest

from conftest import SHARED, have_shared

RUNNER = os.path.join(SHARED, "conformance", "desync-run.mjs")
CORPUS = os.path.join(SHARED, "corpora", "http-desync-guardian")

# (corpus file, test name): why portico answers differently on purpose.
KNOWN_FAILURES = {
    # "GET  HTTP/1.1": an empty request-target is not a valid origin-form
    # (RFC 9112 3.2 requires at least "/"); the parser answers 400 on purpose.
    ("rfc-compliant.yaml", "Empty URI"),
    # its target holds '#', '"', '<', '>', '\\', '^', '`', '{', '|' and '}', which
    # RFC 3986 leaves out of URIs (RFC 9112 3.2): 400 on purpose (issue 11).
    ("rfc-compliant.yaml", "Compliant URL"),
    # the runner writes this Cyrillic target as latin1, which keeps the low byte
    # of each character: 'м' (U+043C) and 'о' (U+043E) go out as raw '<' and '>'.
    ("rfc-compliant.yaml", "International in URI"),
}

# A short idle timeout: the runner waits up to 1.5 s on a connection kept
# open, so closing idle keep-alive connections at once keeps the run short.
CONFIG = '''
http = { header_timeout = 1, body_timeout = 1, idle_timeout = 0.05 }
route { path = "/", handler = "static", body = "root" }
'''

FAIL_RE = re.compile(r"^FAIL \[(\w+)\] (\S+) :: (.*) -> status (\d+) \((.*)\)$")
SUMMARY_RE = re.compile(r"^(\d+) passed, (\d+) failed")


@pytest.fixture(scope="module")
def runner_dir(tmp_path_factory):
    """A directory holding the runner and js-yaml, or a skip saying why not."""
    if not have_shared() or not os.path.isfile(RUNNER) or not os.path.isdir(CORPUS):
        pytest.skip("conformance runner or corpus not found under %s" % SHARED)
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for the desync runner")
    d = str(tmp_path_factory.mktemp("desync"))
    try:
        r = subprocess.run([npm, "install", "--prefix", d, "--no-audit", "--no-fund",
                            "js-yaml"], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.skip("npm install js-yaml timed out (offline?)")
    if r.returncode != 0 or not os.path.isdir(os.path.join(d, "node_modules", "js-yaml")):
        tail = (r.stderr or r.stdout).decode(errors="replace").strip().splitlines()[-3:]
        pytest.skip("npm install js-yaml failed (offline?): %s" % " | ".join(tail))
    # ESM imports ignore NODE_PATH: run the script from beside node_modules
    shutil.copy(RUNNER, d)
    return d


def run_file(runner_dir, port, yaml_file):
    return subprocess.Popen(["node", os.path.join(runner_dir, "desync-run.mjs"), "127.0.0.1",
                             str(port), yaml_file], cwd=runner_dir,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_desync_guardian_corpus(portico, runner_dir):
    files = sorted(glob.glob(os.path.join(CORPUS, "*.yaml")))
    assert files, "no yaml files in " + CORPUS
    d = portico(CONFIG)
    # one runner per file, in parallel: each request waits for its answer alone
    procs = [(f, run_file(runner_dir, d.port, f)) for f in files]
    passed = failed = 0
    failures = []
    errors = []
    for f, p in procs:
        try:
            out = p.communicate(timeout=120)[0].decode(errors="replace")
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            errors.append("%s: runner timed out" % os.path.basename(f))
            continue
        lines = out.strip().splitlines()
        m = SUMMARY_RE.match(lines[-1]) if lines else None
        if p.returncode != 0 or not m:
            errors.append("%s: runner failed (rc %d): %s" % (os.path.basename(f), p.returncode,
                                                             "\n".join(lines[-5:])))
            continue
        passed += int(m.group(1))
        failed += int(m.group(2))
        for ln in lines:
            fm = FAIL_RE.match(ln)
            if fm:
                failures.append((fm.group(2), fm.group(3), ln))
    assert not errors, "\n".join(errors)
    assert d.proc.poll() is None, "portico died during the corpus:\n" + d.log()[-3000:]
    assert passed > 0
    assert failed == len(failures), "unparsed FAIL lines"
    unexpected = [ln for f, name, ln in failures if (f, name) not in KNOWN_FAILURES]
    assert not unexpected, "conformance failures:\n" + "\n".join(unexpected)
    # a known deviation that went away should be noticed (and removed from the list)
    seen = {(f, name) for f, name, _ in failures}
    assert seen == KNOWN_FAILURES, "known failures now pass: %s" % (KNOWN_FAILURES - seen)
