"""The report as a PDF: the same HTML as ``report.html``, laid out on A4 pages by WeasyPrint.

The paged layout lives in the template's CSS (``@page``: running header and footer with page
numbers; table headers repeated on every page; no hyphenation in cells; nothing under 8 pt), so
the PDF and the web report cannot drift apart (docs/decisions/report-pdf.md). WeasyPrint needs
the Pango library of the operating system; without it (or without WeasyPrint) the HTML report is
still written and :func:`pdf_unavailable` says what to install.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path

#: What to install when WeasyPrint cannot load Pango (Debian/Ubuntu package names).
PANGO_PACKAGES = "libpango-1.0-0 libpangoft2-1.0-0"
PANGO_HINT = (
    f"install Pango: `sudo apt-get install {PANGO_PACKAGES}` (Debian/Ubuntu), `brew install pango` (macOS); "
    "https://doc.courtbouillon.org/weasyprint/stable/first_steps.html"
)


def _load_weasyprint() -> None:
    import weasyprint  # noqa: F401


def pdf_engine_problem(load: Callable[[], None] = _load_weasyprint) -> str:
    """Why ``load`` (importing WeasyPrint, which opens Pango) fails, with the fix; empty when it works.

    >>> def no_pango() -> None:
    ...     raise OSError("cannot load library 'libpango-1.0-0'")
    >>> print(pdf_engine_problem(no_pango))  # doctest: +ELLIPSIS
    WeasyPrint cannot load the Pango library (cannot load library 'libpango-1.0-0'); install Pango: ...
    """
    try:
        load()
    except ImportError:
        return "WeasyPrint is not installed: `pip install -r requirements.lock` (or `make install`)"
    except OSError as err:  # cffi could not open libpango / libgobject
        return f"WeasyPrint cannot load the Pango library ({err}); {PANGO_HINT}"
    return ""


@cache
def pdf_unavailable() -> str:
    """:func:`pdf_engine_problem` of this machine, found once per process."""
    return pdf_engine_problem()


def render_pdf(html: str, path: Path) -> Path:
    """Write ``html`` (a self-contained report, figures embedded) as a PDF at ``path``.

    Raises :class:`RuntimeError` with :func:`pdf_unavailable`'s reason when WeasyPrint cannot
    run here.

    >>> import tempfile
    >>> if not pdf_unavailable():
    ...     out = render_pdf("<h1>t</h1><table><thead><tr><th>a</th></tr></thead></table>",
    ...                      Path(tempfile.mkdtemp()) / "r.pdf")
    ...     assert out.read_bytes()[:5] == b"%PDF-"
    """
    reason = pdf_unavailable()
    if reason:
        raise RuntimeError(reason)
    import weasyprint

    path.parent.mkdir(parents=True, exist_ok=True)
    weasyprint.HTML(string=html, base_url=str(path.parent)).write_pdf(path)
    return path
