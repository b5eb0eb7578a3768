"""A strict model of the Grafana 11.4 dashboard JSON the rendered files use (the test oracle).

Written from Grafana's documentation ("JSON model" of a dashboard, the panel and query fields,
file provisioning) and not from the renderer, so a renderer bug cannot hide in both. What Grafana
needs to load a provisioned dashboard and run its queries:

- a dashboard ``uid`` of 1-40 characters of ``[A-Za-z0-9_-]`` (Grafana refuses a longer one:
  ``util.IsShortUIDTooLong``; the provisioner dedupes by uid, so uids are unique across files),
  a ``title``, a ``schemaVersion`` Grafana 11.4 knows (36, when datasources became ``{type, uid}``
  references, up to 40, the newest 11.x writes), and ``panels``;
- each panel an ``id`` unique in its dashboard, a ``type`` of a core panel plugin, a ``gridPos``
  inside the 24-column grid, a ``datasource`` reference and ``targets``;
- each target a ``refId`` unique in its panel, an ``expr`` and the datasource's ``uid``.

Unknown keys are refused (``extra="forbid"``): a misspelt ``gridpos`` or ``legendformat`` is an
error, not a silently ignored field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

GRID_COLUMNS = 24
#: Core panel plugins of Grafana 11 (public/app/plugins/panel); the renderer uses two of them.
PANEL_TYPES = Literal[
    "timeseries", "stat", "gauge", "bargauge", "table", "text", "row", "state-timeline", "status-history", "piechart"
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class DatasourceRef(Strict):
    type: Literal["prometheus"]
    uid: Annotated[str, Field(min_length=1)]


class GridPos(Strict):
    h: Annotated[int, Field(ge=1)]
    w: Annotated[int, Field(ge=1, le=GRID_COLUMNS)]
    x: Annotated[int, Field(ge=0, lt=GRID_COLUMNS)]
    y: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def inside_the_grid(self) -> GridPos:
        if self.x + self.w > GRID_COLUMNS:
            raise ValueError(f"x {self.x} + w {self.w} is beyond the {GRID_COLUMNS}-column grid")
        return self


class Target(Strict):
    refId: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]*$")]
    expr: Annotated[str, Field(min_length=1)]
    datasource: DatasourceRef
    legendFormat: str = ""


class Step(Strict):
    color: Annotated[str, Field(min_length=1)]
    value: float | int | None


class Thresholds(Strict):
    mode: Literal["absolute", "percentage"]
    steps: Annotated[list[Step], Field(min_length=1)]

    @model_validator(mode="after")
    def base_then_rising(self) -> Thresholds:
        if self.steps[0].value is not None:
            raise ValueError("the first threshold step is the base: its value must be null")
        values = [s.value for s in self.steps[1:]]
        if any(v is None for v in values) or values != sorted(values):  # type: ignore[type-var]
            raise ValueError(f"threshold values must rise: {values}")
        return self


class Defaults(Strict):
    unit: str
    color: dict[str, Any]
    thresholds: Thresholds
    mappings: list[dict[str, Any]] = []
    custom: dict[str, Any] = {}


class FieldConfig(Strict):
    defaults: Defaults
    overrides: list[dict[str, Any]]


class Panel(Strict):
    id: Annotated[int, Field(ge=1)]
    type: PANEL_TYPES
    title: Annotated[str, Field(min_length=1)]
    description: str = ""
    datasource: DatasourceRef
    gridPos: GridPos
    fieldConfig: FieldConfig
    options: dict[str, Any]
    targets: Annotated[list[Target], Field(min_length=1)]

    @model_validator(mode="after")
    def unique_refs_one_datasource(self) -> Panel:
        refs = [t.refId for t in self.targets]
        if len(set(refs)) != len(refs):
            raise ValueError(f"panel {self.title!r}: refIds repeat: {refs}")
        if any(t.datasource != self.datasource for t in self.targets):
            raise ValueError(f"panel {self.title!r}: a target queries another datasource than the panel")
        return self


class TimeRange(Strict):
    from_: str = Field(alias="from")
    to: str


class Dashboard(Strict):
    uid: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")]
    title: Annotated[str, Field(min_length=1)]
    description: str = ""
    tags: list[str]
    editable: bool
    graphTooltip: Literal[0, 1, 2]
    schemaVersion: Annotated[int, Field(ge=36, le=40)]
    version: Annotated[int, Field(ge=1)]
    time: TimeRange
    timezone: str
    refresh: Annotated[str, Field(pattern=r"^([0-9]+[smhd])?$")]
    annotations: dict[str, list[Any]]
    templating: dict[str, list[Any]]
    links: list[dict[str, Any]]
    panels: Annotated[list[Panel], Field(min_length=1)]

    @model_validator(mode="after")
    def unique_panel_ids(self) -> Dashboard:
        ids = [p.id for p in self.panels]
        if len(set(ids)) != len(ids):
            raise ValueError(f"panel ids repeat: {ids}")
        return self


def validate(data: Any, datasource_uid: str) -> Dashboard:
    """The parsed dashboard; ValidationError or ValueError when Grafana would not load or query it."""
    dash = Dashboard.model_validate(data)
    wrong = [p.title for p in dash.panels if p.datasource.uid != datasource_uid]
    if wrong:
        raise ValueError(f"panels query a datasource other than uid {datasource_uid!r}: {wrong}")
    return dash


def unique_uids(dashboards: list[Dashboard]) -> None:
    """ValueError when two dashboards share a uid (Grafana's provisioner keeps only one of them)."""
    uids = [d.uid for d in dashboards]
    dupes = sorted({u for u in uids if uids.count(u) > 1})
    if dupes:
        raise ValueError(f"dashboard uids repeat: {dupes}")
