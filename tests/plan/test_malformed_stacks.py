"""A stack file of the wrong shape is a one-line ComposeError naming the stack and service (found
by a fresh-user review: lists, scalars and non-numbers used to raise AttributeError/ValueError)."""

from __future__ import annotations

from typing import Any

import pytest

from iklim.plan.compose import desired_state
from iklim.plan.interpolate import ComposeError


def _doc(service: Any) -> dict[str, Any]:
    return {"version": "3.9", "services": {"svc": service}}


@pytest.mark.parametrize(
    ("document", "words"),
    [
        ({"services": ["a"]}, "stack s: services: not a mapping"),
        (_doc(["x", "y"]), "stack s: service svc: not a mapping"),
        (_doc(None), "stack s: service svc: not a mapping"),
        (_doc({"image": "a:1", "healthcheck": ["x"]}), "stack s: service svc: "),
        (_doc({"image": "a:1", "healthcheck": {"test": ["CMD", "true"], "retries": "five"}}), "stack s: service svc: "),
        (_doc({"image": "a:1", "deploy": {"replicas": -3}}), "stack s: service svc: deploy.replicas: a whole number"),
        (_doc({"image": "a:1", "deploy": {"replicas": True}}), "stack s: service svc: deploy.replicas: a whole number"),
        (_doc({"image": "a:1", "deploy": {"replicas": "many"}}), "stack s: service svc: deploy.replicas: a whole num"),
        (
            _doc({"image": "a:1", "deploy": {"mode": "global", "replicas": 1}}),
            "stack s: service svc: deploy.replicas: only",
        ),
        (_doc({"image": "a:1", "deploy": {"mode": "everywhere"}}), "stack s: service svc: deploy.mode: replicated or"),
        (_doc({"image": 42}), "stack s: service svc: image: a non-empty string is required, got 42"),
        (_doc({"image": "a:1", "bogus_key": 1}), "stack s: service svc: compose key(s) bogus_key not modelled"),
        (_doc({"image": "a:${UNTERMINATED"}), "stack s: invalid interpolation format (no closing brace)"),
        (_doc({"image": "a:${REQ:?REQ must be set}"}), "stack s: ${REQ:?REQ must be set}: REQ must be set"),
    ],
)
def test_a_malformed_stack_is_one_line_naming_the_service(document: dict[str, Any], words: str) -> None:
    with pytest.raises(ComposeError) as caught:
        desired_state({"s": document}, {}, {}, None)
    assert str(caught.value).startswith(words) and "\n" not in str(caught.value)
    assert str(caught.value).count("stack s:") == 1  # one prefix, never doubled


def test_a_duplicate_key_is_refused_with_file_line(tmp_path: Any) -> None:
    """PyYAML keeps the last of two equal keys; docker stack deploy refuses the file, so plan does."""
    import shutil
    from pathlib import Path

    from iklim.model.loader import load_environment
    from iklim.plan.targets import stack_documents
    from iklim.render.stacks import STACK_FILES

    repo = Path(__file__).resolve().parents[2]
    env = load_environment(repo / "environments" / "prod.yaml")
    for file in STACK_FILES.values():
        shutil.copy(repo / file, tmp_path / file)
    assert set(stack_documents(tmp_path, env)) == {env.stacks.infra, env.stacks.vault}
    path = tmp_path / STACK_FILES["vault"]
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("    image:"))
    lines.insert(at + 1, lines[at])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError) as caught:
        stack_documents(tmp_path, env)
    where = f"{STACK_FILES['vault']}:{at + 2}:5"
    assert str(caught.value) == f"{where}: duplicate key 'image' (which value counts is ambiguous)"


def test_an_unset_variable_is_collected_and_blank() -> None:
    """As the CLI does: a blank string and a warning; a default or a set value is not reported."""
    document = _doc({"image": "a:${TAG}", "environment": {"A": "${SET}", "B": "${D:-x}", "C": "$$HOME"}})
    desired = desired_state({"s": document}, {}, {"SET": "1"}, None)
    assert desired.unset == {"s": ["TAG"]}
    assert desired.services["s_svc"]["image"] == "a:"
    assert desired_state({"s": document}, {}, {"SET": "1", "TAG": "2"}, None).unset == {}


def _stack_copy(tmp_path: Any) -> tuple[Any, Any, Any]:
    import shutil
    from pathlib import Path

    from iklim.model.loader import load_environment
    from iklim.render.stacks import STACK_FILES

    repo = Path(__file__).resolve().parents[2]
    for file in STACK_FILES.values():
        shutil.copy(repo / file, tmp_path / file)
    shutil.copytree(repo / "config", tmp_path / "config")
    return load_environment(repo / "environments" / "prod.yaml"), tmp_path / STACK_FILES["vault"], STACK_FILES


def test_merge_keys_load_and_a_non_scalar_key_or_non_utf8_bytes_are_one_line(tmp_path: Any) -> None:
    """Compose files may use YAML merge keys (docker/cli accepts them); explicit keys override."""
    from iklim.plan.targets import stack_documents

    env, path, files = _stack_copy(tmp_path)
    text = path.read_text()
    path.write_text("x-common: &common\n  hostname: merged\n  user: '0'\n" + text.replace(
        "    hostname: vault-1\n", "    <<: *common\n    hostname: vault-1\n", 1))  # fmt: skip
    service = stack_documents(tmp_path, env)[env.stacks.vault]["services"]["vault-1"]
    assert service["hostname"] == "vault-1" and service["user"] == "0"
    path.write_text(text.replace("services:\n", "services:\n  ? [a]\n  : 1\n", 1))
    with pytest.raises(ValueError, match=f"^{files['vault']}:[0-9]+:[0-9]+: a mapping key that is not a scalar$"):
        stack_documents(tmp_path, env)
    path.write_bytes(text.encode() + b"# \xff\n")
    with pytest.raises(ValueError, match=f"^{files['vault']}: not UTF-8 text \\(byte [0-9]+\\)$"):
        stack_documents(tmp_path, env)


def test_a_list_in_place_of_a_service_is_refused_on_the_lab_path_too(tmp_path: Any) -> None:
    from iklim.plan.run import PlanError, desired_from_tree

    env, path, _ = _stack_copy(tmp_path)
    lines = path.read_text().splitlines()
    at = lines.index("  vault-1:")
    end = next(i for i in range(at + 1, len(lines)) if lines[i].startswith("  ") and not lines[i].startswith("    "))
    path.write_text("\n".join([*lines[: at + 1], "    - a", "    - b", *lines[end:]]) + "\n")
    for lab in (False, True):
        with pytest.raises(PlanError, match="service vault-1: not a mapping$"):
            desired_from_tree(env, tmp_path, lab)


def test_a_config_file_outside_the_tree_is_refused(tmp_path: Any) -> None:
    from iklim.plan.compose import config_hashes

    documents = {"s": {"configs": {"c": {"file": "../outside.conf"}}}}
    (tmp_path / "tree").mkdir()
    (tmp_path / "outside.conf").write_text("x")
    with pytest.raises(ComposeError, match=r"^config c: file '../outside.conf' is outside the tree$"):
        config_hashes(tmp_path / "tree", documents)
    documents["s"]["configs"]["c"]["file"] = "./inside.conf"
    (tmp_path / "tree" / "inside.conf").write_text("x")
    assert list(config_hashes(tmp_path / "tree", documents)) == ["./inside.conf"]


def test_a_config_file_through_a_symlink_out_of_the_tree_or_not_regular_is_refused(tmp_path: Any) -> None:
    import os

    from iklim.plan.compose import config_hashes

    tree = tmp_path / "tree"
    tree.mkdir()
    (tmp_path / "outside.conf").write_text("x")
    (tree / "link.conf").symlink_to(tmp_path / "outside.conf")
    os.mkfifo(tree / "fifo.conf")
    for name, why in (("link.conf", "is outside the tree"), ("fifo.conf", "is not a regular file")):
        with pytest.raises(ComposeError, match=f"^config c: file './{name}' {why}$"):
            config_hashes(tree, {"s": {"configs": {"c": {"file": f"./{name}"}}}})
    (tree / "inner.conf").write_text("y")
    (tree / "link-in.conf").symlink_to(tree / "inner.conf")  # a link that stays inside is fine
    assert list(config_hashes(tree, {"s": {"configs": {"c": {"file": "./link-in.conf"}}}})) == ["./link-in.conf"]


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda t: t.replace("\nconfigs:\n  ", "\nconfigs: [a, b]\nx-old-configs:\n  ", 1), "configs: not a mapping"),
        (lambda t: t.replace("      - vault-1-data:/vault/file\n", "      - /scratch\n", 1),
         "a field of an unexpected shape (IndexError"),
        (lambda t: "x-a0: &a0 [" + ", ".join(["x"] * 10) + "]\n" + "".join(
            f"x-a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 10) + "]\n" for n in range(1, 8)) + t,
         "more than 1,000,000 values once its aliases are expanded"),
    ],
)  # fmt: skip
def test_an_odd_shape_is_one_line_never_a_traceback(tmp_path: Any, edit: Any, words: str) -> None:
    from iklim.plan.run import PlanError, desired_from_tree

    env, path, _ = _stack_copy(tmp_path)
    text = path.read_text()
    assert "\nconfigs:\n  " in text and "      - vault-1-data:/vault/file\n" in text
    path.write_text(edit(text))
    for lab in (False, True):
        with pytest.raises(PlanError) as caught:
            desired_from_tree(env, tmp_path, lab)
        assert words in str(caught.value) and "\n" not in str(caught.value)
