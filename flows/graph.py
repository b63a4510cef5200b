"""A flow's state graph as text: Mermaid `stateDiagram-v2`, or Graphviz DOT for an SVG.

Written from `flows.edges` rather than with transitions' GraphMachine: the labels say what a
person wrote (the `on` condition, `after 24h`, `if vars.slot.available`), not a trigger name,
and nothing of GraphMachine's per-model state enters the runtime (reference/libs.md §1).
"""

from __future__ import annotations

import json
import re

from flows.edges import ANY_STATE, Edge, EdgeKind, flow_edges
from flows.schema import Flow

_MERMAID_ID = re.compile(r"[^A-Za-z0-9_]")


def _mermaid_id(name: str) -> str:
    safe = _MERMAID_ID.sub("_", name)
    return safe if safe == name and name not in ("end", "state") else f"s_{safe}"


def _mermaid_label(text: str) -> str:
    # Mermaid ends a label at a newline and treats `:` `;` `#` specially inside it.
    return text.replace("\n", " ").replace(":", "∶").replace(";", ",").replace("#", "№")


def to_mermaid(flow: Flow) -> str:
    lines = ["stateDiagram-v2"]
    for name in flow.states:
        node = _mermaid_id(name)
        if node != name:
            lines.append(f'    state "{name}" as {node}')
    lines.append(f"    [*] --> {_mermaid_id(flow.start)}")
    for edge in _expanded(flow):
        label = _edge_label(edge)
        arrow = f"    {_mermaid_id(edge.source)} --> {_mermaid_id(edge.dest)}"
        lines.append(f"{arrow}: {_mermaid_label(label)}" if label else arrow)
    for name, state in flow.states.items():
        if state.end:
            lines.append(f"    {_mermaid_id(name)} --> [*]")
        elif state.handoff is not None:
            lines.append(f"    note right of {_mermaid_id(name)}: handoff to {state.handoff.queue}")
    return "\n".join(lines) + "\n"


def to_dot(flow: Flow) -> str:
    def quoted(text: str) -> str:
        return json.dumps(text, ensure_ascii=False)

    lines = [
        f"digraph {quoted(flow.flow)} {{",
        "    rankdir=LR;",
        '    node [shape=box, style="rounded", fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
        '    "__start__" [shape=point, width=0.15];',
        f'    "__start__" -> {quoted(flow.start)};',
    ]
    for name, state in flow.states.items():
        if state.end:
            lines.append(f"    {quoted(name)} [peripheries=2];")
        elif state.handoff is not None:
            lines.append(
                f'    {quoted(name)} [style="rounded,dashed", xlabel={quoted("handoff")}];'
            )
    for edge in _expanded(flow):
        style = ", style=dashed" if edge.kind is EdgeKind.TIMER else ""
        label = quoted(_edge_label(edge))
        lines.append(f"    {quoted(edge.source)} -> {quoted(edge.dest)} [label={label}{style}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _edge_label(edge: Edge) -> str:
    if edge.kind is EdgeKind.GLOBAL:
        return f"(global) {edge.label}"
    return edge.label


def _expanded(flow: Flow) -> list[Edge]:
    """Edges with each global transition drawn once, from the start state's side of the graph.

    Drawing a global transition from every state would bury the diagram in arrows; one arrow
    from `[*]`-adjacent start, labelled `(global)`, tells the reader it applies everywhere.
    """
    edges: list[Edge] = []
    for edge in flow_edges(flow):
        if edge.source == ANY_STATE:
            edge = Edge(flow.start, edge.dest, edge.kind, edge.label, edge.loc)
        edges.append(edge)
    return edges
