"""Widgets in a real browser: Debian chromium driven by Playwright against JupyterLab and voila.

Each test starts its own server on 127.0.0.1 with a random free port and a random token
(``NNREP_PROFILE=ci`` in its environment), opens a notebook, runs it, moves a slider by
typing into its readout, and checks that the plotly figure next to the slider changed and
that no cell shows an error. Screenshots go to ``build/browser/``. Servers are always shut
down (their whole process group), also when a test fails. Never downloads a browser:
``scripts/ensure_browser.sh`` (run by ``make test``) apt-installs Debian's chromium.
"""

from __future__ import annotations

import http.client
import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest

from benchmarks import _browser as B
from nnrep_lite import cli
from nnrep_lite.viz.live import plotly_bundle_path
from nnrep_lite.workflow.present import voila_env

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data"
SHOTS = ROOT / "build" / "browser"

# Every notebook, as a lecturer opens it: (notebook, label text of a slider to move or None,
# value to type). The plot checked is the one in the same output as that slider.
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SLIDERS = {"03_besov_bspline": ("N terms", "40"), "06_one_step_spike": ("α", "0.5")}
LAB_CASES = [pytest.param(nb, *SLIDERS.get(nb.stem, (None, None)), id=nb.stem) for nb in NOTEBOOKS]

if not Path(B.CHROMIUM).exists():
    pytest.skip(
        f"{B.CHROMIUM} not found: run `bash scripts/ensure_browser.sh` (make test does) to install "
        "Debian's chromium",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


@contextmanager
def _server(cmd, *, cwd, env, probe_url, name, timeout=90):
    """A server for one test (log in build/browser/NAME.log); a failed start fails the test."""
    try:
        with B.server(cmd, cwd=cwd, env=env, probe_url=probe_url, log_path=SHOTS / f"{name}.log",
                      timeout=timeout) as proc:
            yield proc
    except B.ServerError as exc:
        pytest.fail(str(exc))


def _server_env(tmp: Path) -> dict:
    return B.server_env(tmp, "ci")


# Counts the evaluations of plotly's 5 MB widget bundle in a page (each is a blob of its size):
# LiveFigure evaluates it once per page however many figures there are.
_COUNT_BUNDLE = """
window.__nnrepBundleImports = 0;
const nnrepCreateObjectURL = URL.createObjectURL;
URL.createObjectURL = function (obj) {
  if (obj && obj.size === SIZE) window.__nnrepBundleImports += 1;
  return nnrepCreateObjectURL.call(URL, obj);
};
"""


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=B.CHROMIUM, headless=True, args=B.CHROMIUM_ARGS, viewport=B.VIEWPORT,
        )
        context.add_init_script(_COUNT_BUNDLE.replace("SIZE", str(plotly_bundle_path().stat().st_size)))
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One JupyterLab for the module; notebooks are copied into its root."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "root"
    root.mkdir()
    port, token = B.free_port(), B.token()
    base = f"http://127.0.0.1:{port}"
    B.write_lab_settings(tmp)
    with _server(B.lab_command(port, token, root), cwd=root, env=_server_env(tmp), name="jupyterlab",
                 probe_url=f"{base}/api/status?token={token}"):
        yield {"base": base, "token": token, "root": root}


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


_PLOTS_NEAR = """(el) => {
  const area = el.closest('.jp-OutputArea-output') || el.closest('.jp-OutputArea') || document;
  return Array.from(area.querySelectorAll('.js-plotly-plot')).map(
      (p) => JSON.stringify((p.data || []).map((t) => ({x: t.x, y: t.y, z: t.z}))));
}"""


def _slider(page, label: str | None):
    sliders = page.locator(".widget-slider")
    if label is not None:
        sliders = sliders.filter(has=page.locator(".widget-label", has_text=label))
    return sliders.first


_QUIET = """(ms) => new Promise((resolve) => {
  // resolves once every plotly figure is drawn and the page has not changed for ms milliseconds
  let timer = null;
  const drawn = () => Array.from(document.querySelectorAll('.js-plotly-plot'))
      .every((p) => p.querySelector('.main-svg'));
  const obs = new MutationObserver(() => arm());
  const arm = () => { clearTimeout(timer); timer = setTimeout(() => {
      if (drawn()) { obs.disconnect(); resolve(true); } else { arm(); } }, ms); };
  obs.observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  arm();
})"""


def _settle(page, quiet_ms: int = 2000, timeout_ms: int = 180_000):
    """Wait until voila's page has drawn every figure and stopped changing: on a loaded machine
    its widget front end connects to the kernel well after the first figure shows, and an edit
    typed before that is shown in the readout but never reaches the kernel."""
    page.evaluate(f"() => Promise.race([({_QUIET})({quiet_ms}), "
                  f"new Promise((r) => setTimeout(() => r(false), {timeout_ms}))])")


def _move_slider_and_check_plot(page, label, value, shot_name):
    slider = _slider(page, label)
    slider.wait_for(state="visible", timeout=60_000)
    slider.scroll_into_view_if_needed()
    handle = slider.element_handle()
    page.wait_for_function(f"(el) => ({_PLOTS_NEAR})(el).length > 0", arg=handle, timeout=60_000)
    before = handle.evaluate(_PLOTS_NEAR)
    readout = slider.locator(".widget-readout")
    old_text = readout.inner_text().strip()
    if value is None:  # a real notebook's slider: pick a value inside its range
        value = _other_value(slider, old_text)
    # A second try with another value covers a front-end whose kernel connection was not
    # ready for the first edit (seen with voila on a loaded machine); either must redraw.
    for attempt, typed in enumerate((str(value), _other_value(slider, str(value)))):
        readout.click()
        readout.fill(typed)
        readout.press("Enter")
        try:
            page.wait_for_function(
                f"([el, before]) => JSON.stringify(({_PLOTS_NEAR})(el)) !== JSON.stringify(before)",
                arg=[handle, before], timeout=60_000 if attempt == 0 else 90_000,
            )
            break
        except sync_api.TimeoutError:
            if attempt == 1:
                raise
    after = handle.evaluate(_PLOTS_NEAR)
    assert after != before
    assert readout.inner_text().strip() != old_text
    _shot(page, shot_name)
    return before, after


def _other_value(slider, old_text: str) -> str:
    """A value different from the current one, inside the slider's range (from its aria attrs)."""
    handle = slider.locator("[role=slider]").first
    lo = float(handle.get_attribute("aria-valuemin"))
    hi = float(handle.get_attribute("aria-valuemax"))
    try:
        cur = float(old_text)
    except ValueError:
        cur = lo
    target = lo + 0.75 * (hi - lo)
    if abs(target - cur) < 1e-9 * max(1.0, abs(hi - lo)):
        target = lo + 0.25 * (hi - lo)
    if float(int(lo)) == lo and float(int(hi)) == hi and "." not in old_text:
        target = round(target)
    return f"{target:g}"


# What a person sees, read from the DOM: outputs that scroll or clip sideways, plotly SVGs
# sticking out of their output area, plotly titles that the figure defines but that are empty
# on screen (LaTeX that JupyterLab 4 leaves blank) or hold "$".
_LOOK = """() => {
  const problems = [];
  const areas = Array.from(document.querySelectorAll('.jp-OutputArea-output'));
  for (const a of areas) {
    if (a.offsetParent === null) continue;  // collapsed or hidden
    if (a.scrollWidth > a.clientWidth + 1)
      problems.push(`output scrolls sideways: ${a.scrollWidth} > ${a.clientWidth} px`);
    const box = a.getBoundingClientRect();
    for (const svg of a.querySelectorAll('.main-svg')) {
      const r = svg.getBoundingClientRect();
      if (r.width === 0) continue;
      if (r.left < box.left - 1 || r.right > box.right + 1)
        problems.push(`plot ${Math.round(r.width)} px wide sticks out of its ${Math.round(box.width)} px output`);
    }
    // a figure that sets no width must fill its output (plotly's 700 px default does not)
    for (const p of a.querySelectorAll('.js-plotly-plot')) {
      const svg = p.querySelector('.main-svg');
      if (!svg || (p.layout && p.layout.width)) continue;
      const r = svg.getBoundingClientRect();
      if (r.width > 0 && r.width < 0.9 * box.width - 24)
        problems.push(`plot ${Math.round(r.width)} px wide in its ${Math.round(box.width)} px output`);
    }
  }
  const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
  const overlap = (a, b) => a.width > 0 && b.width > 0 && a.left < b.right - 1 && b.left < a.right - 1
      && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  for (const p of plots) {  // a legend must not cover tick labels or axis titles
    const legend = p.querySelector('.legend');
    if (!legend) continue;
    const L = legend.getBoundingClientRect();
    for (const t of p.querySelectorAll('.xtick text, .ytick text, .g-xtitle text, .g-ytitle text')) {
      if (!t.textContent.trim()) continue;
      if (overlap(L, t.getBoundingClientRect())) {
        problems.push(`legend covers the axis label "${t.textContent.trim().slice(0, 30)}"`);
        break;
      }
    }
  }
  let titles = 0;
  for (const p of plots) {
    const L = p._fullLayout;
    if (!L) continue;
    const want = [];
    if (L.title && L.title.text) want.push(['title', 'gtitle', L.title.text]);
    for (const k of Object.keys(L)) {
      const m = /^([xy])axis(\\d*)$/.exec(k);
      if (m && L[k] && L[k].visible !== false && L[k].title && L[k].title.text)
        want.push([k, m[1] + m[2] + 'title', L[k].title.text]);
    }
    for (const [key, cls, text] of want) {
      titles += 1;
      if (/^Click to enter/.test(text)) continue;  // plotly's placeholder, not drawn
      if (text.includes('$')) { problems.push(`${key} holds LaTeX: ${text}`); continue; }
      const el = p.querySelector('.' + cls);
      const shown = el ? el.textContent.trim() : '';
      if (!shown) problems.push(`${key} "${text}" is empty on screen`);
    }
  }
  return {problems, plots: plots.length, titles, outputs: areas.length};
}"""


def _check_what_is_seen(page, name):
    seen = page.evaluate(_LOOK)
    assert seen["problems"] == [], f"{name}: {seen['problems'][:8]}"
    return seen


_WIDTHS = """() => Array.from(document.querySelectorAll('.jp-OutputArea-output'))
  .filter((a) => a.offsetParent !== null && a.querySelector('.js-plotly-plot'))
  .map((a) => [Math.round(a.getBoundingClientRect().width),
               Math.round(a.querySelector('.js-plotly-plot .main-svg').getBoundingClientRect().width)])"""


def _check_figures_follow_the_area(page, name):
    """Close the file browser (the output area widens), then open it again: every figure re-fits
    (LiveFigure's ResizeObserver; a plain FigureWidget kept its width)."""
    seen = {}
    try:
        for step in ("closed", "open"):
            page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")
            page.wait_for_timeout(1500)
            widths = seen[step] = page.evaluate(_WIDTHS)
            assert widths, "no figure in view"
            bad = [(area, fig) for area, fig in widths if fig < 0.9 * area - 24 or fig > area + 1]
            assert not bad, f"{name}: file browser {step}: figures do not follow their output: {bad[:4]}"
        assert seen["closed"][0][0] > seen["open"][0][0] + 100, f"the output area did not widen: {seen}"
    finally:
        if not page.locator(".jp-FileBrowser").first.is_visible():
            page.evaluate("window.jupyterapp.commands.execute('application:toggle-left-area')")


def _shoot_figures(page, name):
    """The page, and every figure on its own (scrolled into view), into build/browser/."""
    _shot(page, name)
    plots = page.locator(".js-plotly-plot")
    for i in range(min(plots.count(), 30)):
        fig = plots.nth(i)
        try:
            fig.scroll_into_view_if_needed(timeout=5000)
            fig.screenshot(path=str(SHOTS / f"{name}-fig{i:02d}.png"), timeout=10_000)
        except sync_api.Error:
            pass  # a figure in a collapsed output


@pytest.mark.parametrize(("notebook", "label", "value"), LAB_CASES)
def test_notebook_in_jupyterlab(browser, lab, notebook, label, value):
    """Open, Run All, look (no sideways scroll or clipping, every title rendered, no "$", no
    error), move a slider where the notebook has one, then Run All a second time and look again."""
    shutil.copy(notebook, lab["root"] / notebook.name)
    page = browser.new_page()
    page_errors = []
    page.on("pageerror", lambda exc: page_errors.append(f"{exc}\n{exc.stack}"))
    name = f"lab-{notebook.stem}"
    try:
        # ?reset: a fresh workspace (file browser open, as JupyterLab starts), no restored tabs
        B.open_notebook(page, lab["base"], lab["token"], notebook.name)
        assert page.locator(".jp-FileBrowser").first.is_visible(), "the file browser is not open"
        state = B.run_all_and_wait(page, notebook.name)
        assert state["errors"] == [], f"cells raised: {state['errors']}"
        seen = _check_what_is_seen(page, name)
        assert seen["plots"] > 0 or notebook.stem.startswith("00"), "no figure was drawn"
        _shoot_figures(page, f"{name}-ran")
        if label is not None:
            _move_slider_and_check_plot(page, label, value, f"{name}-moved")
            B.wait_idle(page, 60)
            _check_figures_follow_the_area(page, name)
        state = B.run_all_and_wait(page, notebook.name)  # Run All again, in the same kernel
        assert state["errors"] == [], f"second Run All: cells raised: {state['errors']}"
        _check_what_is_seen(page, f"{name} (second Run All)")
        _shot(page, f"{name}-ran-twice")
        assert page.locator(".jp-OutputArea-output:has-text('Traceback')").count() == 0
        assert not page_errors, page_errors
        imports = page.evaluate("window.__nnrepBundleImports")
        assert imports <= 1, f"plotly's widget bundle was evaluated {imports} times in one page"
    except Exception:
        with_shot = SHOTS / f"{name}-failure.png"
        page.screenshot(path=str(with_shot), full_page=True)
        raise
    finally:
        # shut the kernel down so the module's server stays light
        B.shutdown_kernel(page)
        page.close()


VOILA_CASE = (ROOT / "notebooks" / "03_besov_bspline.ipynb", "N terms", "40")


def test_notebook_in_voila(browser, tmp_path):
    """Lecture mode (``nnrep present``'s command line) on a real notebook; the demo meanwhile."""
    notebook, label, value = VOILA_CASE
    if not notebook.exists():
        notebook, label, value = DATA / "widget_demo.ipynb", "frequency f", "4.2"
    name = f"voila-{notebook.stem}"
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy(notebook, root / notebook.name)
    port, token = B.free_port(), B.token()
    cmd = cli.present_command(notebook.name, port=port, token=token, show_tracebacks=True)
    base = f"http://127.0.0.1:{port}"
    with _server(cmd, cwd=root, env=voila_env(_server_env(tmp_path)), name="voila",
                 probe_url=f"{base}/voila/static/"):
        # auth stays on: without the token voila redirects to its login page
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/")
        resp = conn.getresponse()
        assert resp.status == 302 and "login" in resp.getheader("Location", "")
        conn.close()
        page = browser.new_page()
        page_errors = []
        page.on("pageerror", lambda exc: page_errors.append(f"{exc}\n{exc.stack}"))
        try:
            page.goto(f"{base}/?token={token}", timeout=120_000)
            page.wait_for_selector(".js-plotly-plot", timeout=150_000)
            _settle(page)
            _shot(page, f"{name}-loaded")
            _move_slider_and_check_plot(page, label, value, f"{name}-moved")
            text = page.inner_text("body")
            assert "Traceback" not in text and "There was an error" not in text
            # the story, not internals: no record() lines, no size dictionaries
            leaked = [ln for ln in text.splitlines() if "recorded " in ln or "'n_samples'" in ln]
            assert leaked == [], leaked[:5]
            _check_what_is_seen(page, name)
            assert page.locator("pre:has-text('Error')").count() == 0
            # jupyterlab-plotly's mime renderer calls a JupyterLab-only model method under
            # voila after drawing (upstream; the figure renders). Anything else fails the test.
            unexpected = [e for e in page_errors
                          if not ("setData is not a function" in e and "jupyterlab-plotly" in e)]
            assert not unexpected, unexpected
        except Exception:
            page.screenshot(path=str(SHOTS / f"{name}-failure.png"), full_page=True)
            raise
        finally:
            page.close()


def test_static_report_page_is_interactive_offline(browser, tmp_path):
    """A report page renders its plotly figure from the local plotly.min.js (no kernel, no CDN)."""
    site = tmp_path / "site"
    entries = cli.build_report([DATA / "widget_demo.ipynb"], site, tmp_path / "nbs",
                               profile="ci", log=lambda s: None)
    assert entries[0]["status"] == "ok", entries
    page = browser.new_page()
    try:
        page.route("http*://**", lambda route: route.abort())  # offline: only file:// loads
        page.goto((site / "widget_demo.html").as_uri())
        page.wait_for_selector(".js-plotly-plot", timeout=30_000)
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length == 2")
        traces = json.loads(page.evaluate(
            "() => JSON.stringify(Array.from(document.querySelectorAll('.js-plotly-plot'),"
            " (p) => Array.from(p.data[0].y)))"))
        assert len(traces[0]) == 50 and traces[1] == [3, 1, 2]
        _shot(page, "report-widget_demo")
    finally:
        page.close()


def test_report_page_of_a_real_notebook_typesets_offline(browser, tmp_path):
    """A real notebook's report page from file:// with the network off: MathJax from the copy
    beside the page typesets every formula (no "$" left in the text, display equations as
    display), the injected parameters and the record lines are not shown, figures draw."""
    notebook = ROOT / "notebooks" / "03_besov_bspline.ipynb"
    site = tmp_path / "site"
    entries = cli.build_report([notebook], site, tmp_path / "nbs", profile="ci", log=lambda s: None)
    assert entries[0]["status"] == "ok", entries
    page = browser.new_page()
    try:
        page.route("http*://**", lambda route: route.abort())  # offline: only file:// loads
        page.goto((site / f"{notebook.stem}.html").as_uri())
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        page.wait_for_function(
            "() => window.MathJax && MathJax.Hub && MathJax.Hub.queue.pending === 0"
            " && document.querySelectorAll('.MathJax_CHTML, .MathJax_SVG, .MathJax').length > 0",
            timeout=60_000)
        text = page.inner_text("body")
        assert "$" not in text, [ln for ln in text.splitlines() if "$" in ln][:5]
        assert page.locator(".MathJax_Display, .MJXc-display").count() > 0  # $$...$$ as display
        assert "recorded " not in text and "# Parameters" not in text
        _check_what_is_seen(page, "report-03")
        _shot(page, "report-03_besov_bspline")
    finally:
        page.close()
