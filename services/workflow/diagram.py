"""The process diagram, drawn from the transition table itself (GET /process/diagram): Mermaid text and
an SVG laid out by our own code (no Graphviz or other system binary). Pure functions of a definition.

Layout: states in layers by their distance from the initial state along forward transitions; the
states reached only by exits (reject, withdraw) in a column on the right. Forward edges go down,
edges back to an earlier layer curve on the left, exits are dashed lines to the right column."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from xml.sax.saxutils import escape

from services.workflow.process import ProcessDefinition, TransitionDef

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN, SIDE_GAP = 200, 50, 36, 74, 40, 160
FONT = "Noto Sans CJK SC, Source Han Sans SC, Microsoft YaHei, PingFang SC, sans-serif"


def edges(t: TransitionDef) -> list[tuple[str, str]]:
    """(from-state, who) per arrow of a transition: one per grant, or one per state for a joint act, whose
    roles sign in order (process.TransitionDef.joint)."""
    if t.joint:
        return [(state, "jointly: " + " then ".join(r.value for r in t.joint)) for state in t.from_states]
    return [(state.value, grant.role.value) for grant in t.grants for state in grant.from_states]


def mermaid(p: ProcessDefinition) -> str:
    """stateDiagram-v2 text: one line per (from-state, transition), labelled with name and roles."""
    lines = ["stateDiagram-v2", f"    %% {p.title} ({p.basis}), process version {p.version}"]
    lines += [f"    {s.name.value} : {s.name.value} {s.label_zh}" for s in p.states]
    lines.append(f"    [*] --> {p.initial_state.value}")
    for t in p.transitions:
        lines += [f"    {state} --> {t.to.value} : {t.name} ({who})" for state, who in edges(t)]
    lines += [f"    {s.name.value} --> [*]" for s in p.states if s.final]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class Box:
    state: str
    x: float
    y: float
    side: bool = False

    @property
    def cx(self) -> float:
        return self.x + BOX_W / 2


def layout(p: ProcessDefinition) -> dict[str, Box]:
    """Where each state's box goes."""
    rank: dict[str, int] = {p.initial_state.value: 0}
    queue = deque([p.initial_state.value])
    while queue:
        here = queue.popleft()
        for t in p.transitions:
            if t.kind == "forward" and here in t.from_states and t.to.value not in rank:
                rank[t.to.value] = rank[here] + 1
                queue.append(t.to.value)
    layers: dict[int, list[str]] = {}
    for state, r in rank.items():
        layers.setdefault(r, []).append(state)
    widest = max(len(v) for v in layers.values())
    main_w = widest * BOX_W + (widest - 1) * GAP_X
    boxes: dict[str, Box] = {}
    for r, states in layers.items():
        row_w = len(states) * BOX_W + (len(states) - 1) * GAP_X
        x0 = MARGIN + (main_w - row_w) / 2
        for i, state in enumerate(states):
            boxes[state] = Box(state, x0 + i * (BOX_W + GAP_X), MARGIN + r * (BOX_H + GAP_Y))
    side = [s.name.value for s in p.states if s.name.value not in rank]
    depth = max(layers) + 1
    for i, state in enumerate(side):  # spread over the height of the main flow
        y = MARGIN + (i + 1) * depth * (BOX_H + GAP_Y) / (len(side) + 1) - BOX_H / 2
        boxes[state] = Box(state, MARGIN + main_w + SIDE_GAP, y, side=True)
    return boxes


def _label(x: float, y: float, text: str, size: int = 11, anchor: str = "middle", cls: str = "label") -> str:
    return (f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}">'
            f"{escape(text)}</text>")


def _edge(t: TransitionDef, src: Box, dst: Box, role: str) -> str:
    attrs = f'class="edge {t.kind}" data-transition="{t.name}" data-from="{src.state}" data-to="{dst.state}"'
    title = f"<title>{escape(f'{t.name} ({role}): {src.state} → {dst.state}')}</title>"
    if dst.side:
        x1, y1 = src.x + BOX_W, src.y + BOX_H / 2
        x2, y2 = dst.x, dst.y + BOX_H / 2
        return (f'<path {attrs} d="M{x1:.1f},{y1:.1f} C{x1 + 50:.1f},{y1:.1f} {x2 - 50:.1f},{y2:.1f} '
                f'{x2:.1f},{y2:.1f}" fill="none" stroke="#b0b0b0" stroke-dasharray="5,4" '
                f'marker-end="url(#arrow-grey)">{title}</path>')
    if dst.y > src.y:  # forward, down
        x1, y1, x2, y2 = src.cx, src.y + BOX_H, dst.cx, dst.y
        mid_x, mid_y = (x1 + x2) / 2, (y1 + y2) / 2
        return (f'<g {attrs}>{title}<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#333" '
                f'marker-end="url(#arrow)"/>{_label(mid_x + 6, mid_y + 4, f"{t.name} · {role}", anchor="start")}</g>')
    # back to an earlier layer (a new round): a curve on the outer side of the source
    y1, y2 = src.y + BOX_H / 2, dst.y + BOX_H / 2
    if src.x > dst.x:  # source right of the target: round the right side
        x1, x2 = src.x + BOX_W, dst.x + BOX_W
        bend = max(x1, x2) + 50
    else:
        x1, x2 = src.x, dst.x
        bend = max(min(x1, x2) - 50, 4.0)
    return (f'<g {attrs}>{title}<path d="M{x1:.1f},{y1:.1f} C{bend:.1f},{y1:.1f} {bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"'
            f' fill="none" stroke="#1f6feb" marker-end="url(#arrow-blue)"/>'
            f'{_label(bend + 4, (y1 + y2) / 2, t.name, anchor="start")}'
            f'{_label(bend + 4, (y1 + y2) / 2 + 14, role, anchor="start")}</g>')


def svg(p: ProcessDefinition) -> str:
    """The diagram as a standalone SVG document."""
    boxes = layout(p)
    width = max(b.x for b in boxes.values()) + BOX_W + MARGIN + 170
    height = max(b.y for b in boxes.values()) + BOX_H + MARGIN + 20
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}" role="img">',
           f"<title>{escape(f'{p.title} / {p.title_zh} — process {p.version}')}</title>",
           "<defs>"]
    for name, colour in (("arrow", "#333"), ("arrow-grey", "#b0b0b0"), ("arrow-blue", "#1f6feb")):
        out.append(f'<marker id="{name}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" '
                   f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>')
    out.append("</defs>")
    out.append(f'<rect width="{width:.0f}" height="{height:.0f}" fill="#fff"/>')
    exits: dict[str, list[str]] = {}
    for t in p.transitions:
        for state, who in edges(t):
            out.append(_edge(t, boxes[state], boxes[t.to.value], who))
            if boxes[t.to.value].side:
                key = f"{t.name} · {who}"
                exits.setdefault(t.to.value, [])
                if key not in exits[t.to.value]:
                    exits[t.to.value].append(key)
    for s in p.states:
        b = boxes[s.name.value]
        fill = "#e8f5e9" if s.final and not b.side else "#fdecea" if b.side else "#eef3fb"
        out.append(f'<g class="state" data-state="{s.name.value}"><rect x="{b.x:.1f}" y="{b.y:.1f}" width="{BOX_W}" '
                   f'height="{BOX_H}" rx="8" fill="{fill}" stroke="#555" stroke-width="{2 if s.final else 1}"/>'
                   + _label(b.cx, b.y + 21, s.name.value, 13, cls="state-name")
                   + _label(b.cx, b.y + 39, s.label_zh, 12, cls="state-label") + "</g>")
    for target, labels in exits.items():
        b = boxes[target]
        for i, text in enumerate(labels):
            out.append(_label(b.x, b.y + BOX_H + 16 + 14 * i, text, 11, anchor="start", cls="exit-label"))
    first = boxes[p.initial_state.value]
    out.append(f'<circle cx="{first.cx:.1f}" cy="{first.y - 22:.1f}" r="7" fill="#333"/>')
    out.append(f'<line x1="{first.cx:.1f}" y1="{first.y - 15:.1f}" x2="{first.cx:.1f}" y2="{first.y:.1f}" '
               f'stroke="#333" marker-end="url(#arrow)"/>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
