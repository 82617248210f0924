"""What the flow-directory tests write and compare: a flow's version, a second flow on 5000, a secret to keep out."""

from __future__ import annotations

import hashlib

SECRET = "root:$y$j9T$notarealhash:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"  # as /etc/shadow


def version_of(text: str) -> str:
    """The version the loader gives a flow file: a hash of its bytes."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


OTHER_ON_5000 = """\
id: other
numbers: ["5000"]
start: bye
nodes:
  bye: {type: hangup, prompts: [vm-goodbye]}
"""
