"""A client that reads only the toxic schema does not load the proxy server.

Its own interpreter, since this one has loaded the server long ago.
"""

from __future__ import annotations

import subprocess
import sys

from tests.helpers import REPO


def test_importing_the_schema_does_not_load_the_server():
    code = (
        "import sys, chaoslib.proxy.schema\n"
        "loaded = [m for m in sys.modules if m.startswith(('aiohttp', 'chaoslib.proxy.'))]\n"
        "print(sorted(loaded))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "['chaoslib.proxy.schema', 'chaoslib.proxy.schema_types']"
