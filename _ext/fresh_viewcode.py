"""Write viewcode's highlighted-source pages (``_modules/``) on every build.

``sphinx.ext.viewcode`` skips a module's page when the HTML is newer than the
module's file, so an incremental build keeps the pages an older build wrote
(with that build's navigation), and ``tests/pages/test_site.py``, which
checks that every page a link leads to was written by the build under test,
finds them stale. Removing ``_modules/`` when the HTML builder starts makes
viewcode write them all again: a few pages, highlighted in well under a
second.
"""

import shutil
from pathlib import Path


def _clear_module_pages(app):
    if app.builder.format == "html":
        shutil.rmtree(Path(app.outdir) / "_modules", ignore_errors=True)


def setup(app):
    app.connect("builder-inited", _clear_module_pages)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
