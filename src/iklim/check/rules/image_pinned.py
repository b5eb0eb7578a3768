"""Warning: every image is pinned to a full version tag or a digest, never a floating tag.

An unpinned image changes under a redeploy or a node replacement, so members of one cluster can
end up on different versions. Floating: no tag, ``latest``, a name (``redis:alpine``,
``rabbitmq:management``, ``grafana/grafana:main``), a major version alone (``redis:7``,
``redis:7-alpine``) and, for images whose releases have three parts, ``major.minor``
(``redis:7.4``). Pinned: a digest, a full version with any suffix (``redis:7.4.2-alpine``,
``postgres:16.4``), a dated or commit tag. ``iklim render`` refuses the same images
(:mod:`iklim.model.images` is the one definition).

Failing example::

    services:
      redis-1:
        image: redis:alpine

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
from iklim.model.images import pin_problem


def check(docs: Documents, policy: Policy) -> Iterator[Finding]:
    for ref in docs.services():
        image = ref.spec.get("image")
        if image is None:
            continue
        text = str(image)
        problem = pin_problem(text)
        if problem is not None:
            yield RULE.on(
                ref,
                ref.spec.at("image"),
                f"image {text!r} {problem}: pin a full version tag (such as 1.2.3) or a digest",
            )


RULE = Rule("image-pinned", Severity.WARNING, __doc__ or "", check)
