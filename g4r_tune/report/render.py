"""One document model (headings, paragraphs, tables, images) rendered as Markdown and as self-contained HTML."""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True)
class Para:
    text: str  # plain text; `code` spans allowed


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[Any]]
    caption: str = ""


@dataclass(frozen=True)
class Image:
    path: Path  # the PNG on disk (relative links in Markdown, embedded bytes in HTML)
    alt: str


@dataclass(frozen=True)
class Code:
    text: str


@dataclass
class Document:
    title: str
    blocks: list[Any] = field(default_factory=list)

    def add(self, *blocks: Any) -> None:
        self.blocks.extend(blocks)


def fmt(value: Any, digits: int = 4) -> str:
    """Table cell text: floats to ``digits`` significant decimals, None/NaN as an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.{digits}f}" if abs(value) < 1e5 else f"{value:.3g}"
    return str(value)


def to_markdown(doc: Document, base: Path) -> str:
    out = [f"# {doc.title}", ""]
    for block in doc.blocks:
        if isinstance(block, Heading):
            out += [f"{'#' * block.level} {block.text}", ""]
        elif isinstance(block, Para):
            out += [block.text, ""]
        elif isinstance(block, Code):
            out += ["```", block.text, "```", ""]
        elif isinstance(block, Table):
            if block.caption:
                out += [f"*{block.caption}*", ""]
            out.append("| " + " | ".join(_md_cell(c) for c in block.columns) + " |")
            out.append("| " + " | ".join("---" for _ in block.columns) + " |")
            out += ["| " + " | ".join(_md_cell(fmt(v)) for v in row) + " |" for row in block.rows]
            out.append("")
        elif isinstance(block, Image):
            out += [f"![{block.alt}]({block.path.relative_to(base).as_posix()})", ""]
    return "\n".join(out).rstrip() + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#1d2330;line-height:1.45}
h1{border-bottom:2px solid #d0504f;padding-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.86em}
th,td{border:1px solid #ccd;padding:.25em .55em;text-align:left;white-space:nowrap}
th{background:#eef1f6}td.n{text-align:right}
p.cap{font-style:italic;margin:.8em 0 .1em;font-size:.9em}
img{max-width:100%;border:1px solid #eee;margin:.4em 0}code,pre{background:#f4f5f8;padding:.1em .3em;border-radius:3px}
div.scroll{overflow-x:auto;max-width:100%}
pre{padding:.6em;overflow-x:auto;white-space:pre-wrap;word-break:break-all}nav a{margin-right:.8em}
"""


def to_html(doc: Document) -> str:
    """A single self-contained page: inline CSS, PNGs embedded as data URIs, no scripts, no external requests."""
    body: list[str] = []
    toc: list[str] = []
    for i, block in enumerate(doc.blocks):
        if isinstance(block, Heading):
            anchor = f"s{i}"
            body.append(f'<h{block.level} id="{anchor}">{html.escape(block.text)}</h{block.level}>')
            if block.level == 2:
                toc.append(f'<a href="#{anchor}">{html.escape(block.text)}</a>')
        elif isinstance(block, Para):
            body.append(f"<p>{_inline(block.text)}</p>")
        elif isinstance(block, Code):
            body.append(f"<pre><code>{html.escape(block.text)}</code></pre>")
        elif isinstance(block, Table):
            cap = f'<p class="cap">{html.escape(block.caption)}</p>' if block.caption else ""
            head = "".join(f"<th>{html.escape(str(c))}</th>" for c in block.columns)
            rows = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in block.rows)
            table = f"{cap}<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
            body.append(f'<div class="scroll">{table}</div>')  # wide tables scroll, the page does not
        elif isinstance(block, Image):
            data = base64.b64encode(block.path.read_bytes()).decode("ascii")
            body.append(f'<img alt="{html.escape(block.alt)}" src="data:image/png;base64,{data}">')
    nav = f"<nav>{''.join(toc)}</nav>" if toc else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(doc.title)}</title><style>{_CSS}</style></head>"
        f"<body><h1>{html.escape(doc.title)}</h1>{nav}{''.join(body)}</body></html>\n"
    )


def _td(value: Any) -> str:
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    return f'<td class="n">{html.escape(fmt(value))}</td>' if numeric else f"<td>{html.escape(fmt(value))}</td>"


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _inline(text: str) -> str:
    """Escape, then turn `code` spans into <code> and **bold** into <strong>."""
    parts = html.escape(text).split("`")
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{part}</code>")
        else:
            bold = part.split("**")
            out.append("".join(f"<strong>{b}</strong>" if j % 2 else b for j, b in enumerate(bold)))
    return "".join(out)
