"""``iklim render`` refuses floating image tags with the checker's own predicate."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from iklim.check.rules import image_pinned
from iklim.cli import cli
from iklim.model import schema
from iklim.model.images import pin_problem
from iklim.model.loader import ModelError, parse_environment

PROD_TEXT = (Path(__file__).resolve().parent.parent / "environments" / "prod.yaml").read_text()
REDIS = "    image: redis:7.4.2-alpine\n"
LINE = PROD_TEXT[: PROD_TEXT.index(REDIS)].count("\n") + 1


@pytest.mark.parametrize(
    "image",
    [
        "redis:alpine",
        "redis:latest",
        "redis",
        "redis:7",
        "redis:7-alpine",
        "redis:7.4",
        "rabbitmq:management",
        "grafana/grafana:main",
    ],
)
def test_floating_tag_is_refused_at_its_line(image: str) -> None:
    text = PROD_TEXT.replace(REDIS, f"    image: {image}\n", 1)
    with pytest.raises(ModelError) as caught:
        parse_environment(text, "prod.yaml")
    (problem,) = [str(p) for p in caught.value.problems]
    assert f"prod.yaml:{LINE}:" in problem and repr(image) in problem and "pin a full version" in problem


@pytest.mark.parametrize("image", ["redis:7.4.3-alpine", "redis@sha256:" + "c" * 64, "redis:7.4.2@sha256:" + "d" * 64])
def test_pinned_image_is_accepted(image: str) -> None:
    parse_environment(PROD_TEXT.replace(REDIS, f"    image: {image}\n", 1), "prod.yaml")


def test_render_refuses_a_floating_tag_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(PROD_TEXT.replace(REDIS, "    image: redis:alpine\n", 1))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["render", "--env", str(bad), "--out", str(out)])
    assert result.exit_code == 2 and f"{bad}:{LINE}:" in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_model_and_check_share_one_predicate() -> None:
    assert schema.pin_problem is pin_problem and image_pinned.pin_problem is pin_problem
