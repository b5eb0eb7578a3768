"""A bounded YAML composer: PyYAML nodes from the event stream, under the project's own limits.

PyYAML's composers recurse once per nesting level (the C one on the C stack: about 25,000
levels crash the process), and an alias is one node however much it expands to (a 700-byte
"billion laughs" expands to 10^9 nodes in any consumer that walks it). This composer builds the
same node graph iteratively from the parser's events (libyaml's when available) and refuses,
with the line and column of the offending node:

- nesting deeper than :data:`~iklim.model.bounded.MAX_DEPTH`, counted through aliases (an alias
  is as deep as what it points to);
- more than :data:`~iklim.model.bounded.MAX_NODES` nodes once every alias and ``<<`` merge key
  is expanded, counted as the document is read, so a bomb stops after a few small steps;
- recursive, undefined and duplicate anchors, several documents in one file;
- reading for longer than :data:`~iklim.model.bounded.MAX_SECONDS`.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    StreamEndEvent,
)
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import Reader

from iklim.model.bounded import MAX_DEPTH, MAX_NODES, Deadline, Unusable, position

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CHECK_EVERY = 4096  # events between two looks at the clock


def _at(mark: Any) -> tuple[int, int]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)


class _Frame:
    """A collection being composed: its node, expanded size and height so far, pending key."""

    __slots__ = ("node", "anchor", "size", "height", "key")

    def __init__(self, node: Node, anchor: str | None) -> None:
        self.node = node
        self.anchor = anchor
        self.size = 1
        self.height = 1
        self.key: Node | None = None


class _Composer:
    def __init__(self, loader: Any, path: str) -> None:
        self.loader = loader
        self.path = path
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Node, int, int] | None] = {}  # None while still open
        self.root: Node | None = None

    def fail(self, mark: Any, message: str) -> Unusable:
        return Unusable(self.path, *_at(mark), message)

    def add(self, node: Node, size: int, height: int, mark: Any) -> None:
        if len(self.stack) + height > MAX_DEPTH:
            raise self.fail(mark, f"YAML nested more than {MAX_DEPTH} levels deep (aliases expanded)")
        if not self.stack:
            self.root = node
            return
        frame = self.stack[-1]
        frame.size += size
        if frame.size > MAX_NODES:
            raise self.fail(mark, f"YAML expands to more than {MAX_NODES} nodes (aliases and merge keys expanded)")
        frame.height = max(frame.height, height + 1)
        if isinstance(frame.node, SequenceNode):
            frame.node.value.append(node)
        elif frame.key is None:
            frame.key = node
        else:
            frame.node.value.append((frame.key, node))
            frame.key = None

    def anchor(self, name: str | None, mark: Any) -> None:
        if name is None:
            return
        if name in self.anchors:
            raise self.fail(mark, f"duplicate anchor {name!r}")
        self.anchors[name] = None

    def event(self, event: Any) -> None:
        kind = type(event)
        if kind is ScalarEvent:
            tag = event.tag
            if tag is None or tag == "!":
                tag = self.loader.resolve(ScalarNode, event.value, event.implicit)
            node = ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
            self.anchor(event.anchor, event.start_mark)
            if event.anchor is not None:
                self.anchors[event.anchor] = (node, 1, 1)
            self.add(node, 1, 1, event.start_mark)
        elif kind is AliasEvent:
            if event.anchor not in self.anchors:
                raise self.fail(event.start_mark, f"undefined alias {event.anchor!r}")
            target = self.anchors[event.anchor]
            if target is None:
                raise self.fail(event.start_mark, "recursive YAML alias")
            self.add(target[0], target[1], target[2], event.start_mark)
        elif isinstance(event, CollectionStartEvent):
            if len(self.stack) >= MAX_DEPTH:
                raise self.fail(event.start_mark, f"YAML nested more than {MAX_DEPTH} levels deep")
            cls: type[MappingNode] | type[SequenceNode] = MappingNode if kind is MappingStartEvent else SequenceNode
            tag = event.tag
            if tag is None or tag == "!":
                tag = self.loader.resolve(cls, None, event.implicit)
            start: Any = event.start_mark
            collection: Node = cls(tag, [], start, None, flow_style=event.flow_style)
            self.anchor(event.anchor, event.start_mark)
            self.stack.append(_Frame(collection, event.anchor))
        elif kind is SequenceEndEvent or kind is MappingEndEvent:
            frame = self.stack.pop()
            frame.node.end_mark = event.end_mark
            if frame.anchor is not None:
                self.anchors[frame.anchor] = (frame.node, frame.size, frame.height)
            self.add(frame.node, frame.size, frame.height, frame.node.start_mark)
        elif kind is DocumentStartEvent and self.root is not None:
            raise self.fail(event.start_mark, "expected a single YAML document, found another one")

    def run(self, deadline: Deadline) -> Node | None:
        count = 0
        while True:
            event = self.loader.get_event()
            if type(event) is StreamEndEvent:
                return self.root
            self.event(event)
            count += 1
            if count % _CHECK_EVERY == 0:
                deadline.check(*_at(event.start_mark))


def _reader_error(text: str, path: str, exc: yaml.reader.ReaderError) -> Unusable:
    found = Reader.NON_PRINTABLE.search(text)
    line, column = position(text, found.start()) if found else (1, 1)
    char = found.group(0) if found else "?"
    return Unusable(path, line, column, f"invalid YAML: control character {ord(char):#06x} is not allowed")


def compose(text: str, path: str) -> Node | None:
    """The node graph of the single YAML document in ``text`` (None when empty), bounded.

    Raises :class:`~iklim.model.bounded.Unusable` at the offending line and column for invalid
    YAML (including control characters such as NUL), and for each bound in the module docstring.
    """
    loader = _LOADER(text)
    try:
        return _Composer(loader, path).run(Deadline(path))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise Unusable(path, *_at(mark), f"invalid YAML: {problem}") from None
    except yaml.reader.ReaderError as exc:
        raise _reader_error(text, path, exc) from None
    except yaml.YAMLError as exc:
        raise Unusable(path, 1, 1, "invalid YAML: " + " ".join(str(exc).split())) from None
    finally:
        loader.dispose()
