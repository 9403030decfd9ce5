"""The built documentation site (mkdocs): every page's RASP blocks are coloured by raspc's own
lexer, with stylesheets of the site itself in the light and the dark scheme, and no page or
stylesheet fetches anything from the network."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from docs_blocks import PAGES, ROOT, blocks, command_env

SPAN = re.compile(r'<span class="([\w-]+)">')
RASP_BLOCK = re.compile(
    r'<div class="language-rasp highlight">'
    r'(?:<span class="filename">[^<]*</span>)?<pre>.*?</pre></div>',
    re.DOTALL,
)
FETCHED = re.compile(
    r'<(?:script|img|iframe)[^>]*\ssrc="(https?:)?//|'
    r'<link[^>]*\shref="(https?:)?//|url\((["\']?)(https?:)?//|@import'
)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    mkdocs = Path(sys.executable).parent / "mkdocs"
    if not mkdocs.exists():
        pytest.skip("mkdocs is not installed (pip install -e '.[dev]')")
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [str(mkdocs), "build", "--strict", "-q", "-d", str(out)],
        cwd=ROOT,
        env={**command_env(), "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def _lexer_classes(source: str) -> list[str]:
    """The CSS classes raspc's lexer gives `source`, in order, whitespace left out."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name

    html = highlight(source, get_lexer_by_name("rasp"), HtmlFormatter(nowrap=True))
    return [c for c in SPAN.findall(html) if c != "w"]


def _coloured(css: str) -> set[str]:
    """The Pygments classes that a rule of `css` gives a colour."""
    classes: set[str] = set()
    for selectors, declarations in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        if re.search(r"(^|;)\s*color:", declarations):
            classes.update(re.findall(r"\.highlight \.([\w-]+)\s*(?=,|$)", selectors))
    return classes


def test_site_colours_rasp_with_the_lexer_offline(site):
    """Every page with RASP shows it with the `rasp` lexer's classes, which a stylesheet of
    the site itself colours in the light and the dark scheme; nothing comes from the network."""
    css = "".join(p.read_text() for p in site.rglob("*.css"))
    coloured = _coloured(css)
    pages_with_rasp = 0
    for page in PAGES[1:]:
        folder = site if page.stem == "index" else site / page.stem
        html = (folder / "index.html").read_text()
        assert not FETCHED.search(html), f"{page.name}: the page fetches from the network"
        for href in re.findall(r'<link rel="stylesheet" href="([^"]+)"', html):
            assert (folder / href).resolve().is_file(), f"{page.name}: {href} is not local"
        shown = [b for b in blocks(page) if b.lang == "rasp"]
        built = RASP_BLOCK.findall(html)
        assert len(built) == len(shown), f"{page.name}: {len(built)} of {len(shown)} rasp built"
        pages_with_rasp += bool(shown)
        for block, markup in zip(shown, built, strict=True):
            classes = [c for c in SPAN.findall(markup) if c not in ("w", "filename")]
            assert classes == _lexer_classes(block.body), f"{block.where}: not the rasp lexer's"
            assert {"nb", "o", "gp"} & set(classes), f"{block.where}: no builtin, operator, prompt"
            assert set(classes) <= coloured, f"{block.where}: uncoloured {set(classes) - coloured}"
    assert pages_with_rasp >= 3
    assert not FETCHED.search(css), "a stylesheet fetches from the network"
    for scheme in ("default", "slate"):  # the colours the rules above refer to, in each scheme
        assert re.search(
            rf"\[data-md-color-scheme={scheme}\][^}}]*--md-code-hl-keyword-color", css
        ), f"the {scheme} scheme has no code colours"
