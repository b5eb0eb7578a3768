"""The position-keeping YAML and HCL readers."""

from __future__ import annotations

import glob
from pathlib import Path

import hcl2
import pytest

from iklim.check.findings import InputError
from iklim.check.hcl import load_hcl
from iklim.check.yamlload import load_yaml

REPO = Path(__file__).resolve().parents[2]


def test_yaml_reads_like_docker() -> None:
    doc = load_yaml("a: 80:80\nb: yes\nc: 0x10\nd: ~\ne: '1'\nf: ${X:-5}\ng: $${Y}\nh: ${Z}\n", "f", interp=True)
    assert doc == {"a": "80:80", "b": "yes", "c": 16, "d": None, "e": "1", "f": "5", "g": "${Y}", "h": "${Z}"}
    assert doc.raw["f"] == "${X:-5}"
    assert doc.vpos["f"] == (6, 4)


def test_merge_keeps_the_written_position() -> None:
    doc = load_yaml("base: &b\n  x: 1\n  y: 2\nsvc:\n  <<: *b\n  y: 3\n", "f")
    assert doc["svc"] == {"x": 1, "y": 3}
    assert doc["svc"].vpos["x"] == (2, 6)
    assert doc["svc"].vpos["y"] == (6, 6)


@pytest.mark.parametrize(
    ("text", "line"),
    [("a: [1\n", 2), ("a: 1\na: 2\n", 2), ("a: ${\n", 1), ("a: &x [*x]\n", 1), ("a: 1\n---\nb: 2\n", 2)],
)
def test_yaml_errors_have_a_line(text: str, line: int) -> None:
    with pytest.raises(InputError) as info:
        load_yaml(text, "f.yml", interp=True)
    assert info.value.line == line
    assert "\n" not in str(info.value)


def test_hcl_reader_positions() -> None:
    blocks = load_hcl('# c\nresource "a" "b" {\n  x = [1, "2"] // c\n  r {\n    y = true\n  }\n}\n', "f.tf")
    assert blocks[0].labels == ("a", "b")
    assert blocks[0].attrs["x"] == [1, "2"]
    assert blocks[0].attrs.vpos["x"] == (3, 7)
    assert blocks[0].children("r")[0].attrs["y"] is True
    assert blocks[0].children("r")[0].line == 4


@pytest.mark.parametrize(("text", "line"), [('a "b" {\n  x = \n}\n', 2), ('a "b" {\n  x = 1\n', 1), ("x = @\n", 1)])
def test_hcl_errors_have_a_line(text: str, line: int) -> None:
    with pytest.raises(InputError) as info:
        load_hcl(text, "f.tf")
    assert info.value.line == line


def test_hcl_reader_agrees_with_python_hcl2_on_the_rendered_files() -> None:
    files = sorted(glob.glob(str(REPO / "terraform" / "hetzner" / "prod" / "*.tf")))
    assert files, "the rendered terraform is missing"
    for path in files:
        text = Path(path).read_text()
        ours = {(b.labels[0], b.labels[1]): b for b in load_hcl(text, path) if b.type == "resource"}
        theirs = hcl2.loads(text)
        for resource in theirs.get("resource", []):
            for rtype, named in resource.items():
                for name, body in named.items():
                    block = ours[(rtype.strip('"'), name.strip('"'))]
                    for key, value in body.items():
                        if isinstance(value, str | int | bool) and key in block.attrs:
                            expected = str(value).strip('"')
                            if expected.startswith("${") and expected.endswith("}"):
                                expected = expected[2:-1]
                            assert str(block.attrs[key]) == expected, (path, key)
                    rules = body.get("rule", [])
                    assert len(block.children("rule")) == len(rules)


def test_exporters_are_not_members_of_the_cluster_they_watch() -> None:
    from iklim.check.compose import kind_of

    assert kind_of("redis-exporter", {"image": "oliver006/redis_exporter:v1.67.0"}) is None
    assert kind_of("metrics", {"image": "oliver006/redis_exporter:v1.67.0"}) is None
    assert kind_of("redis-2", {"image": "redis:7.4.2"}) == "redis"
    assert kind_of("cache", {"image": "redis:7.4.2"}) == "redis"
