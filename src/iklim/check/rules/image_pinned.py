"""Warning: every image is pinned to a version tag or a digest, never ``latest`` or untagged.

An unpinned image changes under a redeploy or a node replacement, so members of one cluster can
end up on different versions.

Failing example::

    services:
      redis-1:
        image: redis

Passing example::

    services:
      redis-1:
        image: redis:7.4.2-alpine
"""

from __future__ import annotations

from collections.abc import Iterator

from iklim.check.documents import Documents
from iklim.check.findings import Finding, Severity
from iklim.check.policy import Policy
from iklim.check.rules.base import Rule


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for ref in docs.services():
        image = ref.spec.get("image")
        if image is None:
            continue
        text = str(image)
        if "@sha256:" in text:
            continue
        last = text.rsplit("/", 1)[-1]
        tag = last.partition(":")[2]
        if not tag or tag == "latest" or "$" in tag:
            yield RULE.on(ref, ref.spec.at("image"), f"pin image {text!r} to a version tag or a digest")


RULE = Rule("image-pinned", Severity.WARNING, __doc__ or "", check)
