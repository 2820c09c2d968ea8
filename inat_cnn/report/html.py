"""One self-contained HTML page: plotly.js inline, images as data URIs, no network at all.

The page carries a small self-check: a script in <head> records any JS error
(window errors, failed resource loads, unhandled rejections, console.error) on
<html data-js-errors>, and after load it sets data-plotly-figures to the number
of rendered plots. Headless browsers (and our tests) read these attributes.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable
from pathlib import Path
from typing import Any

_ERROR_HOOK = """
(function () {
  var errors = [];
  function record(message) {
    errors.push(String(message));
    document.documentElement.setAttribute('data-js-errors', JSON.stringify(errors));
  }
  window.addEventListener('error', function (e) {
    record(e.message || ('failed to load ' + ((e.target && (e.target.src || e.target.href)) || 'a resource')));
  }, true);
  window.addEventListener('unhandledrejection', function (e) { record('unhandled rejection: ' + e.reason); });
  var original = console.error;
  console.error = function () {
    record(Array.prototype.join.call(arguments, ' '));
    original.apply(console, arguments);
  };
  document.documentElement.setAttribute('data-js-errors', '[]');
})();
"""

_READY_HOOK = """
window.addEventListener('load', function () {
  var plots = Array.prototype.filter.call(document.querySelectorAll('.js-plotly-plot'),
    function (el) { return el.querySelector('.main-svg') !== null; }).length;
  document.documentElement.setAttribute('data-plotly-figures', String(plots));
  document.documentElement.setAttribute('data-report-ready', '1');
});
"""

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1280px;
       color: #222; padding: 0 16px; }
h1 { font-size: 1.6em; margin-bottom: 4px; } h2 { margin-top: 36px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 13px; width: 100%; }
th, td { border: 1px solid #ddd; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f3f5f7; } tr.best td { background: #eef8ee; }
.state-failed { color: #b00020; } .state-pruned { color: #8a6d00; } .state-running { color: #1f5fbf; }
.muted { color: #666; } .note { background: #fff8e1; padding: 8px 12px; border-left: 4px solid #f0c000; }
.viz { display: flex; flex-wrap: wrap; gap: 16px; } .viz figure { margin: 0; width: 600px; max-width: 100%; }
.viz img { width: 100%; border: 1px solid #ddd; image-rendering: auto; } code { background: #f3f5f7; padding: 1px 4px; }
"""


def plotly_js() -> str:
    """The plotly.js bundle shipped with the plotly package (no CDN)."""
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def page(title: str, sections: Iterable[str]) -> str:
    """A complete HTML document with plotly.js and the self-check inlined."""
    body = "\n".join(sections)
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n"
        f"<script>{_ERROR_HOOK}</script>\n<script>{plotly_js()}</script>\n</head>\n<body>\n"
        f"{body}\n<script>{_READY_HOOK}</script>\n</body>\n</html>\n"
    )


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def section(heading: str, *parts: str, anchor: str | None = None) -> str:
    ident = f' id="{esc(anchor)}"' if anchor else ""
    return f"<section{ident}>\n<h2>{esc(heading)}</h2>\n" + "\n".join(parts) + "\n</section>"


def table(headers: list[str], rows: list[list[Any]], row_classes: list[str] | None = None) -> str:
    """An HTML table; cells are escaped unless they are ``Raw``."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    lines = []
    for i, row in enumerate(rows):
        cls = f' class="{esc(row_classes[i])}"' if row_classes and row_classes[i] else ""
        cells = "".join(f"<td>{c if isinstance(c, Raw) else esc(c)}</td>" for c in row)
        lines.append(f"<tr{cls}>{cells}</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(lines) + "\n</tbody>\n</table>"


class Raw(str):
    """Trusted HTML that ``table`` inserts without escaping."""


def figure_div(fig: Any, div_id: str) -> str:
    """A plotly figure as a div plus its newPlot script (plotly.js comes from the page head)."""
    return fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id,
                       config={"displaylogo": False, "responsive": True})


def image_figure(path: Path, caption: str) -> str:
    """A PNG embedded as a data URI, with a caption."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>")


def note(text: str) -> str:
    return f'<p class="note">{esc(text)}</p>'
