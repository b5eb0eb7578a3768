"""Step 6 of the bootstrap: the model's day-one configuration on the active member.

Each item is compared with the cluster's real state first (audit devices, mounts, policy text,
auth methods), so a rerun changes nothing on a configured cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from iklim.vault.api import VaultError
from iklim.vault.errors import BootstrapError
from iklim.vault.plan import VaultPlan
from iklim.vault.waiting import wait_for_active


def apply_day_one(plan: VaultPlan, progress: Callable[[str], None], deadline: float | None = None) -> list[str]:
    """Audit device, KV v2 mounts, policies and auth methods; returns what was changed.

    Waits (until ``deadline``, monotonic seconds; default 60 s from now) for an active member
    rather than assuming one. Raises BootstrapError, AnswerError, VaultError or CustodyError.
    """
    token = plan.custody.root_token()
    members = [c.with_token(token) for c in plan.clients()]
    leader = wait_for_active(members, time.monotonic() + 60 if deadline is None else deadline)
    day_one, changed = plan.day_one, []
    if "file/" not in leader.audit_devices():
        try:
            leader.enable_audit("file", day_one.audit_file_path)
        except VaultError as exc:
            if "declarative" in str(exc):
                raise BootstrapError(
                    f"{leader.name} takes audit devices only from its config (OpenBao): declare "
                    'audit "file" "file" in its HCL'
                ) from None
            raise
        changed.append("audit device file/")
    mounts = leader.mounts()
    for path in day_one.kv_mounts:
        if f"{path}/" not in mounts:
            leader.enable_kv2(path)
            changed.append(f"kv-v2 {path}/")
    for name, rules in sorted(day_one.policies.items()):
        if (leader.policy(name) or "").strip() != rules.strip():
            leader.write_policy(name, rules)
            changed.append(f"policy {name}")
    methods = leader.auth_methods()
    for method in day_one.auth_methods:
        if f"{method}/" not in methods:
            leader.enable_auth(method)
            changed.append(f"auth {method}/")
    progress(f"day-one: {', '.join(changed) if changed else 'already configured'}")
    return changed
