# SPDX-License-Identifier: Apache-2.0
"""Runs pytest (quiet, no cache) with its tmp_path root in a private temporary directory that
is removed afterwards, so a test run leaves nothing in $TMPDIR (pytest 7.2 would keep
/tmp/pytest-of-<user>/pytest-N). Usage: run_pytest.py <pytest arguments...>."""
import os
import sys
import tempfile

import pytest

if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="ck-pytest-") as root:
        rc = pytest.main(["-q", "-p", "no:cacheprovider",
                          "--basetemp", os.path.join(root, "t"), *sys.argv[1:]])
    sys.exit(int(rc))
