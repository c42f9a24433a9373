"""How every chart is written: a PNG of at most 64 colours, or an SVG for the HTML report.

A chart is a few flat colours and anti-aliased text; matplotlib writes it as 32-bit RGBA, about
four times the bytes of the same picture in a 64-colour palette, which reads the same. Committed
runs carry their charts (results/ has a size budget), so every chart is written the small way.
An SVG keeps its text as text (not glyph outlines): smaller, and its axes readable in the page.
"""

import io
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure
from PIL import Image

DPI = 110
COLOURS = 64


def save_chart(fig: Figure, path: Path) -> None:
    if path.suffix == ".svg":
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": path.stem}):
            fig.savefig(path, format="svg", metadata={"Date": None})
        return
    buffer = io.BytesIO()
    fig.savefig(buffer, dpi=DPI, format="png")
    buffer.seek(0)
    with Image.open(buffer) as image:
        image.convert("RGB").quantize(colors=COLOURS, method=Image.Quantize.FASTOCTREE).save(path, optimize=True)
