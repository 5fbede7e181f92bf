#!/bin/sh
# make check entry: the integration tests with Debian's pytest.
cd "$(dirname "$0")" || exit 1
/usr/bin/python3 -m pytest -q -p no:cacheprovider "$@" .
rc=$?
# pytest exits 5 when nothing was collected: that is a failure here too
exit $rc
