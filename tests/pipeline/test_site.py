"""The built site, as its readers, re-runners and citers meet it.

- Launch buttons: every Binder and Colab link of every page opens a notebook that exists — for
  Binder in the image that ``postBuild`` makes from the tracked files, for Colab on the branch
  that the Pages workflow publishes with the executed chapters.
- Offline: no page, style sheet or script loads a script, style or font from another host.
- In a real browser (headless Chromium, driven through its DevTools pipe, standard library only):
  every page loads with no request leaving the machine, MathJax typesets every formula (no raw
  ``$$`` or ``\\(`` left, no error node), every image loads, every internal link and anchor
  resolves; each chapter is saved as a screenshot under ``book/_build/screenshots/``. At 1280
  and 400 px no element of the article column is wider than the column (outside its own scroll
  box), and at 400 px a page-wide figure is still shown at its print width, in such a box.

These tests need the built site (``make book``) and are marked ``site``; they skip, saying why,
when ``book/_build/html`` is absent, and the browser test when no Chromium is installed.
"""

import base64
import json
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BOOK = ROOT / "book"
HTML = BOOK / "_build" / "html"
SCREENSHOTS = BOOK / "_build" / "screenshots"
WORKFLOW = ROOT / ".github" / "workflows" / "pages.yml"

needs_site = pytest.mark.skipif(
    not (HTML / "index.html").is_file(),
    reason="book/_build/html is not built: run `make book` first (these tests read the site)",
)
site = [pytest.mark.site, needs_site]

#: External URLs that the static scan finds inside shipped files and that are never requested
#: when a page loads (the browser test proves it), each with the reason.
KNOWN_INERT = {
    "https://unpkg.com/thebe@": "sphinx-thebe's THEBE_JS_URL: loaded only if a reader starts "
    "live code, which this book does not enable",
    "https://cdn.jsdelivr.net/npm/wicked-good-xpath@": "MathJax's XPath polyfill for browsers "
    "without document.evaluate (none today)",
    "https://scikit-learn.org/versionwarning.js": "an example in a pydata-sphinx-theme comment",
    "https://mne.tools/versionwarning.js": "an example in a pydata-sphinx-theme comment",
    "https://github.com/": "source links in licence comments",
}


def _config() -> dict:
    return yaml.safe_load((BOOK / "_config.yml").read_text())


def _pages() -> list[Path]:
    return sorted(p for p in HTML.rglob("*.html") if "_static" not in p.parts)


class _Tags(HTMLParser):
    """Collects (tag, attrs) of every start tag and the text of inline <script>/<style>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.inline, self._in = [], [], None

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in = tag if tag in ("script", "style") else None

    def handle_endtag(self, tag):
        self._in = None

    def handle_data(self, data):
        if self._in:
            self.inline.append((self._in, data))


def _parse(path: Path) -> _Tags:
    parser = _Tags()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


# ---------------------------------------------------------------- launch buttons
_BINDER = re.compile(
    r"^https://mybinder\.org/v2/gh/(?P<repo>[^/]+/[^/]+)/(?P<branch>[^?]+)"
    r"\?urlpath=(?:lab/)?tree/(?P<path>.+)$"
)
_COLAB = re.compile(
    r"^https://colab\.research\.google\.com/github/(?P<repo>[^/]+/[^/]+)"
    r"/blob/(?P<branch>[^/]+)/(?P<path>.+)$"
)


def _launch_links() -> dict:
    links = {"binder": [], "colab": []}
    for page in _pages():
        for tag, attrs in _parse(page).tags:
            href = attrs.get("href") or ""
            if tag == "a" and "mybinder.org" in href:
                links["binder"].append((page, href))
            if tag == "a" and "colab.research.google.com" in href:
                links["colab"].append((page, href))
    return links


@pytest.fixture(scope="module")
def after_postbuild(tmp_path_factory) -> Path:
    """The tracked files (what Binder clones) in a scratch folder, after ``postBuild``'s pairing
    step (the install step is skipped: it would reinstall the package of this checkout)."""
    scratch = tmp_path_factory.mktemp("binder") / "repo"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
    for name in files.stdout.decode().split("\0"):
        if name and (ROOT / name).is_file():
            (scratch / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, scratch / name)
    env = {
        **os.environ,
        "POSTBUILD_SKIP_INSTALL": "1",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    out = subprocess.run(
        ["bash", "postBuild"], cwd=scratch, env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, f"postBuild failed:\n{out.stdout}\n{out.stderr}"
    return scratch


def _repo_slug() -> str:
    url = _config()["repository"]["url"].rstrip("/")
    return "/".join(urlsplit(url).path.strip("/").split("/")[:2])


@pytest.mark.site
@needs_site
def test_every_chapter_has_launch_buttons():
    links = _launch_links()
    chapters = sorted(p.stem for p in (HTML / "chapters").glob("*.html"))
    assert chapters, "no chapter page in the built site"
    for kind in ("binder", "colab"):
        pages = sorted({page.stem for page, _ in links[kind] if page.parent.name == "chapters"})
        assert pages == chapters, f"{kind} buttons on {pages}, chapters {chapters}"


@pytest.mark.site
@needs_site
def test_binder_buttons_open_a_notebook_of_the_image(after_postbuild):
    config, slug = _config(), _repo_slug()
    links = _launch_links()["binder"]
    assert links
    for page, href in links:
        match = _BINDER.match(href)
        assert match, f"{page.name}: unexpected Binder URL {href}"
        assert match["repo"] == slug and match["branch"] == config["repository"]["branch"], href
        path = unquote(match["path"])
        assert (after_postbuild / path).is_file(), (
            f"{page.relative_to(HTML)}: the Binder button opens {path}, which the image (tracked "
            "files + postBuild) does not have"
        )


@pytest.mark.site
@needs_site
def test_colab_buttons_open_a_published_notebook():
    config, slug = _config(), _repo_slug()
    branch = config["repository"]["branch"]
    tracked = set(
        subprocess.run(
            ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    )
    published = _published_branch()
    for page, href in _launch_links()["colab"]:
        match = _COLAB.match(href)
        assert match, f"{page.name}: unexpected Colab URL {href}"
        assert match["repo"] == slug and match["branch"] == branch, href
        path = unquote(match["path"])
        if path in tracked:
            continue
        # Colab reads the file from GitHub: a generated notebook must be on the branch that the
        # Pages workflow publishes together with the executed chapters.
        assert branch == published, (
            f"{page.relative_to(HTML)}: Colab opens {path} on branch '{branch}', where it is not "
            f"tracked; the Pages workflow publishes the executed chapters to '{published}': set "
            f"repository.branch: {published} in book/_config.yml"
        )
        assert path.startswith("book/chapters/") and (ROOT / path).is_file(), path


def _published_branch() -> str | None:
    if not WORKFLOW.is_file():
        return None
    match = re.search(r"LAUNCH_BRANCH:\s*(\S+)", WORKFLOW.read_text())
    return match.group(1).strip("'\"") if match else None


def test_pages_workflow_builds_ci_on_main_and_publishes():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as True
    assert on["push"]["branches"] == ["main"]
    steps = [s for job in workflow["jobs"].values() for s in job.get("steps", [])]
    runs = "\n".join(s.get("run", "") for s in steps)
    uses = [s.get("uses", "") for s in steps]
    assert "make book PARAMS=ci" in runs
    assert any(u.startswith("actions/upload-pages-artifact") for u in uses)
    assert any(u.startswith("actions/deploy-pages") for u in uses)
    assert _published_branch(), "the workflow names no LAUNCH_BRANCH for the launch buttons"


_INSTALL_CELL = 'importlib.util.find_spec("mftransformer") is None'


def test_colab_first_cell_installs_the_package_when_missing():
    import jupytext

    sources = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.md"))
    assert sources
    for source in sources:
        code = [c for c in jupytext.read(source).cells if c.cell_type == "code"]
        assert code and _INSTALL_CELL in code[0].source, (
            f"{source.name}: the first code cell must install the package when it is missing "
            '(Colab), guarded by importlib.util.find_spec("mftransformer") is None'
        )


# ---------------------------------------------------------------- offline
_EXTERNAL = re.compile(r"^(?:https?:)?//", re.I)
_CSS_URL = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""", re.I)
_ASSET = re.compile(r"""https?://[^\s"'`<>()]+?\.(?:m?js|css|woff2?|ttf|otf|eot)(?=[\s"'`?#)])""")


def _inert(url: str) -> bool:
    return any(url.startswith(prefix) for prefix in KNOWN_INERT)


@pytest.mark.site
@needs_site
def test_pages_load_nothing_from_other_hosts():
    found = []
    for page in _pages():
        parsed = _parse(page)
        for tag, attrs in parsed.tags:
            rel = (attrs.get("rel") or "").lower()
            candidates = [attrs.get("src")] if tag in ("script", "img", "iframe", "source") else []
            if tag == "link" and any(
                r in rel for r in ("stylesheet", "preload", "icon", "font", "modulepreload")
            ):
                candidates.append(attrs.get("href"))
            candidates += [m[0] or m[1] for m in _CSS_URL.findall(attrs.get("style") or "")]
            found += [(page, c) for c in candidates if c and _EXTERNAL.match(c)]
        for kind, text in parsed.inline:
            urls = (
                _ASSET.findall(text)
                if kind == "script"
                else [m[0] or m[1] for m in _CSS_URL.findall(text)]
            )
            found += [(page, u) for u in urls if _EXTERNAL.match(u) and not _inert(u)]
    for css in HTML.rglob("*.css"):
        text = css.read_text(encoding="utf-8", errors="replace")
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        found += [
            (css, m[0] or m[1]) for m in _CSS_URL.findall(text) if _EXTERNAL.match(m[0] or m[1])
        ]
    for js in HTML.rglob("*.js"):
        text = js.read_text(encoding="utf-8", errors="replace")
        found += [(js, u) for u in _ASSET.findall(text) if not _inert(u)]
    report = "\n".join(f"{p.relative_to(HTML)}: {u}" for p, u in found)
    assert not found, f"external script/style/font URLs in the site:\n{report}"


@pytest.mark.site
@needs_site
def test_mathjax_is_served_locally():
    chapters = sorted((HTML / "chapters").glob("*.html"))
    assert chapters
    for page in chapters:
        srcs = [a.get("src", "") for t, a in _parse(page).tags if t == "script"]
        mathjax = [s for s in srcs if "mathjax" in s.lower()]
        assert mathjax, f"{page.name} loads no MathJax"
        for src in mathjax:
            assert not _EXTERNAL.match(src), src
            assert (page.parent / src.split("?")[0]).resolve().is_file(), src


# ---------------------------------------------------------------- browser
_CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _chromium() -> str | None:
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        return explicit
    return next((p for p in map(shutil.which, _CHROMIUM_NAMES) if p), None)


class Browser:
    """Headless Chromium driven through the DevTools protocol on a pipe (fds 3 and 4):
    JSON messages separated by NUL bytes, no port, no third-party client."""

    def __init__(self, executable: str, profile: Path):
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()

        def fds():  # in the child: the pipe ends become fds 3 (commands) and 4 (replies)
            os.dup2(to_child_r, 3)  # to_child_r was created first, so from_child_w is not 3
            os.dup2(from_child_w, 4)
            os.set_inheritable(3, True)  # dup2 onto itself keeps close-on-exec
            os.set_inheritable(4, True)

        args = [
            executable,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--allow-file-access-from-files",
            "--hide-scrollbars",
            "--mute-audio",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
            f"--user-data-dir={profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        self.proc = subprocess.Popen(
            args,
            preexec_fn=fds,
            close_fds=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer, self._id, self.events = b"", 0, []
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        attached = self.send("Target.attachToTarget", targetId=target, flatten=True)
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Network"):
            self.send(f"{domain}.enable", session=True)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=1280,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )

    def send(self, method, *, session=False, timeout=60, **params):
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._next(deadline)
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def open(self, url, timeout=60, *, lands_on=None):
        """Navigate to ``url`` and wait until the document at ``lands_on`` (``url`` unless it
        redirects) has loaded."""
        self.events.clear()
        self.send("Page.navigate", session=True, url=url)
        deadline = time.monotonic() + timeout
        check = "document.readyState + ' ' + location.href"
        while self.evaluate(check) != f"complete {lands_on or url}":
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not load")
            time.sleep(0.05)

    def evaluate(self, expression, timeout=60):
        result = self.send(
            "Runtime.evaluate",
            session=True,
            timeout=timeout,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def _next(self, deadline):
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise TimeoutError("no reply from Chromium")
            ready, _, _ = select.select([self._from_child], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self._from_child, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_child)
        os.close(self._from_child)


@pytest.fixture(scope="module")
def browser():
    executable = _chromium()
    if executable is None:
        pytest.skip(
            "no Chromium found (install Debian's `chromium`; `make test` does when it "
            "can, or set CHROMIUM=/path/to/chrome)"
        )
    with tempfile.TemporaryDirectory(prefix="mft-chromium-") as profile:
        b = Browser(executable, Path(profile))
        try:
            yield b
        finally:
            b.close()


# Runs in the page after `load`: waits for MathJax and images, then reports what a reader sees.
_INSPECT = r"""
(async () => {
  const until = (ok, ms) => new Promise(done => {
    const t0 = Date.now();
    const tick = () => (ok() || Date.now() - t0 > ms) ? done() : setTimeout(tick, 50);
    tick();
  });
  const hasMath = document.querySelector('.math, span.math, div.math') !== null;
  if (hasMath) {
    await until(() => window.MathJax && MathJax.startup && MathJax.startup.promise, 20000);
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      await MathJax.startup.promise;
    }
  }
  const imgs = Array.from(document.images);
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.decode().catch(() => null)));
  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight, .MathJax';
  const raw = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const text = n.textContent;
    if (!/\$\$|\\\(|\\\[/.test(text)) continue;
    if (n.parentElement && n.parentElement.closest(skip)) continue;
    raw.push(text.trim().slice(0, 80));
  }
  const math = Array.from(document.querySelectorAll('.math'));
  return {
    formulas: math.length,
    untypeset: math.filter(m => !m.querySelector('mjx-container')).length,
    errors: document.querySelectorAll('mjx-merror, [data-mjx-error]').length,
    undefined: Array.from(document.querySelectorAll('mjx-mtext[style*="color: red"]'))
      .map(e => e.textContent),
    raw: raw,
    images: imgs.length,
    broken: imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.getAttribute('src')),
    links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
    height: Math.ceil(document.documentElement.scrollHeight),
  };
})()
"""

_LOCAL = ("file:", "data:", "blob:", "about:", "chrome:", "chrome-extension:", "devtools:")


def _ids(path: Path, cache={}) -> set:  # noqa: B006 - a per-run cache of each page's anchors
    if path not in cache:
        text = path.read_text(encoding="utf-8", errors="replace")
        cache[path] = set(re.findall(r"""\b(?:id|name)=["']([^"']+)["']""", text))
    return cache[path]


def _redirect(page: Path) -> str | None:
    """The file URL that a ``<meta http-equiv="refresh">`` page sends the reader to."""
    for tag, attrs in _parse(page).tags:
        if tag == "meta" and (attrs.get("http-equiv") or "").lower() == "refresh":
            target = (attrs.get("content") or "").split("url=", 1)[-1].strip()
            return (page.parent / target).resolve().as_uri()
    return None


def _check_link(href: str) -> str | None:
    parts = urlsplit(href)
    if parts.scheme != "file":
        return None
    target = Path(unquote(parts.path))
    if target.is_dir():
        target = target / "index.html"
    if not target.exists():
        return f"missing file {target}"
    if parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in _ids(target):
        return f"missing anchor #{parts.fragment} in {target.name}"
    return None


@pytest.mark.site
@needs_site
def test_every_page_in_a_real_browser(browser):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems, formulas = [], 0
    for page in _pages():
        name = str(page.relative_to(HTML))
        browser.open(page.as_uri(), lands_on=_redirect(page))
        report = browser.evaluate(_INSPECT, timeout=90)
        formulas += report["formulas"]
        if report["untypeset"]:
            problems.append(
                f"{name}: {report['untypeset']} of {report['formulas']} formulas "
                "not typeset by MathJax"
            )
        if report["errors"]:
            problems.append(f"{name}: {report['errors']} MathJax error nodes")
        problems += [f"{name}: undefined TeX macro {m}" for m in report["undefined"]]
        problems += [f"{name}: raw TeX left in the text: {t!r}" for t in report["raw"]]
        problems += [f"{name}: image does not load: {src}" for src in report["broken"]]
        problems += [
            f"{name}: broken link {href}: {why}"
            for href in sorted(set(report["links"]))
            if (why := _check_link(href))
        ]
        requests = [
            e["params"]["request"]["url"]
            for e in browser.events
            if e.get("method") == "Network.requestWillBeSent"
        ]
        problems += [
            f"{name}: request to another host: {u}" for u in requests if not u.startswith(_LOCAL)
        ]
        if page.parent.name == "chapters":
            # The full page, capped at 16000 px (a chapter is a few screens).
            shot = browser.send(
                "Page.captureScreenshot",
                session=True,
                timeout=120,
                format="png",
                captureBeyondViewport=True,
                clip={
                    "x": 0,
                    "y": 0,
                    "width": 1280,
                    "scale": 1,
                    "height": min(report["height"], 16000),
                },
            )
            (SCREENSHOTS / f"{page.stem}.png").write_bytes(base64.b64decode(shot["data"]))
    assert not problems, "\n".join(problems)
    assert formulas > 0, "no formula on any page: is MathJax configured?"
    chapters = sorted(p.stem for p in (HTML / "chapters").glob("*.html"))
    assert sorted(p.stem for p in SCREENSHOTS.glob("*.png")) == chapters


# Every element of the article column whose box reaches past the column, outside any box that
# scrolls or clips (a display equation may be wider than the column inside its own scroll box).
_OVERFLOW = r"""
(() => {
  const column = document.querySelector("article.bd-article") || document.querySelector("main");
  if (!column) return {column: 0, wide: ["no article column"]};
  const edge = column.getBoundingClientRect();
  const scrolls = (el) => {
    for (let p = el.parentElement; p && p !== column.parentElement; p = p.parentElement) {
      const s = getComputedStyle(p);
      if (["auto", "scroll", "hidden", "clip"].includes(s.overflowX)) return true;
    }
    return false;
  };
  const wide = [];
  for (const el of column.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 || box.height === 0) continue;
    if (getComputedStyle(el).visibility === "hidden") continue;
    if (box.right <= edge.right + 1 && box.left >= edge.left - 1) continue;
    if (scrolls(el)) continue;
    const what = el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
      (typeof el.className === "string" && el.className ? "." + el.className.split(" ")[0] : "");
    const text = (el.textContent || el.getAttribute("src") || "").trim().slice(0, 50);
    wide.push(`${what} ${Math.round(box.width)} px (column ${Math.round(edge.width)} px): ${text}`);
  }
  return {column: Math.round(edge.width), wide: wide.slice(0, 15), count: wide.length};
})()
"""


@pytest.mark.site
@needs_site
@pytest.mark.parametrize("width", [1280, 400])
def test_nothing_is_wider_than_the_article_column(browser, width):
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        session=True,
        width=width,
        height=900,
        deviceScaleFactor=1,
        mobile=width < 600,
    )
    problems = []
    try:
        for page in _pages():
            if page.stem in ("genindex", "search", "py-modindex") or _redirect(page):
                continue  # Sphinx's own index pages and redirects: no article column
            browser.open(page.as_uri())
            browser.evaluate(
                "window.MathJax && MathJax.startup ? MathJax.startup.promise : null", timeout=90
            )
            report = browser.evaluate(_OVERFLOW, timeout=60)
            name = str(page.relative_to(HTML))
            problems += [f"{name} at {width} px: {w}" for w in report["wide"]]
    finally:
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=1280,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )
    assert not problems, "\n".join(problems)


# Every image of the article column given a width above the wide-figure threshold (a page-wide
# figure: 7 in, 672 CSS px), with the width it is shown at.
_WIDE_IMAGES = r"""
((threshold) => {
  const column = document.querySelector("article.bd-article") || document.querySelector("main");
  if (!column) return [];
  const given = (img) => {
    const css = /^\s*([\d.]+)px\s*$/.exec(img.style.width || "");
    const attr = /^\s*([\d.]+)(px)?\s*$/.exec(img.getAttribute("width") || "");
    return css ? parseFloat(css[1]) : attr ? parseFloat(attr[1]) : null;
  };
  return Array.from(column.querySelectorAll("img"))
    .map(img => ({src: img.getAttribute("src"), print: given(img),
                  shown: img.getBoundingClientRect().width}))
    .filter(r => r.print !== null && r.print > threshold);
})
"""


@pytest.mark.site
@needs_site
def test_page_wide_figures_keep_their_print_size_on_a_phone(browser):
    """At 400 px a page-wide figure is shown at its print width (inside its own scrolling box,
    which test_nothing_is_wider_than_the_article_column allows): shrunk to the column, its 8 pt
    text would read at about 4 pt."""
    sys.path.insert(0, str(BOOK / "_ext"))
    try:
        from wide_figures import WIDE_PX
    finally:
        sys.path.remove(str(BOOK / "_ext"))
    browser.send(
        "Emulation.setDeviceMetricsOverride",
        session=True,
        width=400,
        height=900,
        deviceScaleFactor=1,
        mobile=True,
    )
    problems, seen = [], 0
    try:
        for page in _pages():
            if _redirect(page):
                continue
            browser.open(page.as_uri())
            browser.evaluate(
                "Promise.all(Array.from(document.images).map(i => i.decode().catch(() => null)))",
                timeout=60,
            )
            images = browser.evaluate(f"{_WIDE_IMAGES}({WIDE_PX})", timeout=60)
            seen += len(images)
            name = str(page.relative_to(HTML))
            problems += [
                f"{name} at 400 px: {i['src']} shown {round(i['shown'])} px wide, "
                f"print width {round(i['print'])} px"
                for i in images
                if i["shown"] < i["print"] - 1
            ]
    finally:
        browser.send(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=1280,
            height=900,
            deviceScaleFactor=1,
            mobile=False,
        )
    assert seen, "no page-wide figure (an image wider than WIDE_PX) on any page"
    assert not problems, "\n".join(problems)


@pytest.mark.site
@needs_site
def test_no_page_shows_a_path_of_this_machine():
    """Documented values (e.g. a module's file path) never print where the book was built."""
    leaks = []
    for page in sorted(HTML.rglob("*.html")):
        text = page.read_text(encoding="utf-8", errors="replace")
        for marker in (str(ROOT), str(Path.home()), "PosixPath("):
            if marker in text:
                leaks.append(f"{page.relative_to(HTML)}: {marker}")
    assert not leaks, leaks
