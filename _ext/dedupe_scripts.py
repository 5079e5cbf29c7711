"""Drop duplicate inline <script> blocks (Sphinx < 8.2 adds each twice).

Sphinx 7.4 registers a body-only script once as filename None and again as
filename '' (fixed upstream in sphinx-doc/sphinx#13402), so sphinx-thebe's
`const THEBE_JS_URL = ...` appears twice and the second copy throws
"Identifier 'THEBE_JS_URL' has already been declared" on every page.
"""


def _dedupe(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        key = (
            getattr(js, "filename", js) or "",
            tuple(sorted(getattr(js, "attributes", {}).items())),
        )
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


def setup(app):
    app.connect("html-page-context", _dedupe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
