"""Browser latency: every control of every panel, as the lecturer feels it.

JupyterLab in Debian's chromium (Playwright, 1280x720, the file browser open), every notebook at
``NNREP_PROFILE=default`` (the lecture size). After Run All, every control inside an output that
holds a plotly figure (sliders, dropdowns, toggle buttons, checkboxes, buttons, number boxes) is
moved to positions it has not shown before: a slider by typing a value into its readout and
pressing Enter (spread over its range, never a value it showed; a selection slider, whose handle
moves over option indices, by arrow-key steps away from its nearer end), a dropdown or toggle group to an
option not chosen yet, a checkbox flipped, a button clicked, a number box given a new value.

Each change is timed in the page from the input event (the Enter key after the value was typed,
the select's change, the pointer press; a capture listener on the document stamps
``performance.now()``) until a figure of
that output shows new data: a MutationObserver on the output compares, on every DOM change of a
``.js-plotly-plot``, what its traces hold (type, visibility, length and a weighted sum of x, y, z
and text) with what they held before the input. That is the new state on screen; a panel whose
recomputation is long shows a coarse result first (a preview, the first streamed steps) and says
so in its status line, and that first result is what the lecturer waits for. The end (the last
DOM change of the figures and status lines, once the kernel is idle and nothing has changed for
0.8 s: the refined or finished state) is kept beside it, and the first DOM change of all.

``browser_update_latency``: the worst control's median time to new data over 150 ms (target 1).
``browser_update_worst``: the worst single change's time to new data over 1 s (target 1).
Both records list every control's times to the end too (``end_median_s``, ``end_worst_s``).
``NNREP_BROWSER_NOTEBOOKS=01,03`` times only the notebooks whose names start so (the records
then say ``"subset": true``). A change after which nothing was redrawn is listed under ``no_redraw`` (a control that moves no
figure) and left out of both. Needs ``/usr/bin/chromium`` and playwright: without them the module
raises (an ERROR line), it never downloads a browser.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks import _browser as B

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 0.150
WORST_BUDGET_S = 1.0
QUIET_S = 0.8
#: JupyterLab 4's default windowing mode, as a lecturer has it (offscreen cells are not laid
#: out, so a control's change does not lay out the whole notebook; the browser tests use "none")
WINDOWING = "contentVisibility"

#: controls of every output that holds a figure, each marked with data-nnrep-bench="i"
_CONTROLS = """() => {
  const out = [];
  const areas = Array.from(document.querySelectorAll('.jp-OutputArea-output'))
      .filter((a) => a.querySelector('.js-plotly-plot'));
  areas.forEach((area, ai) => {
    area.dataset.nnrepArea = String(ai);
    const label = (el) => {
      const l = el.querySelector('.widget-label');
      return (l && l.textContent.trim()) || el.getAttribute('title') || el.textContent.trim().slice(0, 40);
    };
    const add = (el, kind, extra) => {
      if (el.offsetParent === null || el.closest('.mod-disabled') || el.disabled) return;
      const id = String(out.length);
      el.dataset.nnrepBench = id;
      out.push(Object.assign({id, kind, area: String(ai), label: label(el)}, extra || {}));
    };
    area.querySelectorAll('.widget-slider').forEach((el) => {
      const h = el.querySelector('[role=slider]');
      const r = el.querySelector('.widget-readout');
      if (!h || !r) return;
      const ns = el.querySelector('.noUi-target');
      const step = ns && ns.noUiSlider ? ns.noUiSlider.options.step : null;
      add(el, 'slider', {min: +h.getAttribute('aria-valuemin'), max: +h.getAttribute('aria-valuemax'),
                         now: +h.getAttribute('aria-valuenow'), readout: r.textContent.trim(),
                         step: typeof step === 'number' ? step : null});
    });
    area.querySelectorAll('.widget-dropdown').forEach((el) => {
      const s = el.querySelector('select');
      if (s) add(el, 'dropdown', {options: Array.from(s.options, (o) => o.value), now: s.value});
    });
    area.querySelectorAll('.widget-toggle-buttons').forEach((el) => {
      const bs = Array.from(el.querySelectorAll('button'));
      add(el, 'toggles', {options: bs.map((b) => b.textContent.trim()),
                          now: bs.findIndex((b) => b.classList.contains('mod-active'))});
    });
    area.querySelectorAll('.widget-checkbox').forEach((el) => add(el, 'checkbox'));
    area.querySelectorAll('button.widget-button, button.jupyter-button').forEach((el) => {
      if (!el.closest('.widget-toggle-buttons')) add(el, 'button');
    });
    area.querySelectorAll('.widget-text input[type=number], .widget-inline-hbox input[type=number]')
        .forEach((el) => add(el.closest('.widget-inline-hbox') || el, 'number',
                             {now: +el.value, min: el.min === '' ? null : +el.min,
                              max: el.max === '' ? null : +el.max}));
  });
  return out;
}"""

#: arm the clock and watch the figures and status lines of one output
_ARM = """(area) => {
  const st = window.__nnrepBench = {t0: null, first: null, shown: null, last: null, n: 0};
  if (window.__nnrepObs) window.__nnrepObs.disconnect();
  const root = document.querySelector(`[data-nnrep-area="${area}"]`);
  // what the figures show: per trace its type, visibility and a sum and length of each data array
  const summary = (a) => {
    if (a == null) return '';
    if (typeof a === 'string') return a.length + ':' + a.slice(0, 32);
    if (typeof a === 'number') return String(a);
    if (ArrayBuffer.isView(a) || Array.isArray(a)) {
      let s = 0, n = 0;
      const walk = (v) => {
        if (v == null) return;
        if (typeof v === 'number') { if (isFinite(v)) s += v * (1 + (n % 7)); n += 1; return; }
        if (typeof v === 'string') { n += 1; s += v.length; return; }
        if (ArrayBuffer.isView(v) || Array.isArray(v)) { for (let i = 0; i < v.length; i++) walk(v[i]); }
      };
      walk(a);
      return n + ':' + s.toPrecision(12);
    }
    return '';
  };
  const shows = () => Array.from(root.querySelectorAll('.js-plotly-plot'), (gd) =>
      (gd.data || []).map((tr) => [tr.type, tr.visible, summary(tr.x), summary(tr.y), summary(tr.z),
                                    summary(tr.text)].join('|')).join(';')).join('#');
  st.before = shows();
  // when the kernel's replies arrive (widget messages): kernel and wire time apart from the redraw
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  if (kernel && window.__nnrepKernel !== kernel) {
    window.__nnrepKernel = kernel;
    kernel.iopubMessage.connect((_k, msg) => {
      const s = window.__nnrepBench;
      if (!s || s.t0 === null || msg.header.msg_type !== 'comm_msg') return;
      const t = performance.now();
      // the kernel's clock (header.date, ms) on the page's clock: performance.timeOrigin + now
      const sent = Date.parse(msg.header.date) - performance.timeOrigin;
      if (s.firstMsg === null) s.firstMsg = t;
      s.lastMsg = t;
      if (s.shown === null) { s.msgBeforeShown = t; s.msgSent = sent; }
    });
    kernel.iopubMessage.connect((_k, msg) => {  // every request the kernel takes, and its end
      const s = window.__nnrepBench;
      if (!s || s.t0 === null || msg.header.msg_type !== 'status') return;
      const state = msg.content.execution_state;
      if (state === 'busy') {
        s.busy += 1;
        if (s.busySent === null) s.busySent = Date.parse(msg.header.date) - performance.timeOrigin;
      } else if (state === 'idle') s.idle += 1;
    });
  }
  st.firstMsg = null; st.lastMsg = null; st.msgBeforeShown = null; st.msgSent = null; st.busySent = null;
  st.wsSend = null; st.busy = 0; st.idle = 0;
  if (!window.__nnrepWs) {  // when the page hands the change to its websocket
    window.__nnrepWs = true;
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
      const s = window.__nnrepBench;
      if (s && s.t0 !== null && s.wsSend === null) s.wsSend = performance.now();
      return send.call(this, data);
    };
  }
  const obs = window.__nnrepObs = new MutationObserver((muts) => {
    const t = performance.now();
    if (st.t0 === null) return;
    for (const m of muts) {
      const el = m.target.nodeType === 1 ? m.target : m.target.parentElement;
      const fig = el && el.closest('.js-plotly-plot');
      if (fig || (el && el.closest('.widget-html'))) {
        st.n += 1; st.last = t; if (st.first === null) st.first = t;
        if (fig && st.shown === null && shows() !== st.before) st.shown = t;
        break;
      }
    }
  });
  obs.observe(root, {subtree: true, childList: true, attributes: true, characterData: true});
  if (!window.__nnrepStamp) {
    window.__nnrepStamp = (e) => {
      const s = window.__nnrepBench;
      if (!s || s.t0 !== null) return;
      if (e.type === 'keydown' && !/^(Enter|Arrow)/.test(e.key)) return;
      s.t0 = performance.now();
      s.t0Event = e.type + ':' + (e.key || '') + ':' + ((e.target && e.target.className) || '').toString().slice(0, 60);
    };
    for (const type of ['keydown', 'change', 'pointerdown'])
      document.addEventListener(type, window.__nnrepStamp, true);
  }
}"""

#: done: every request the kernel took since the input has ended (its iopub status went idle as
#: often as busy; the status bar's "Idle" shows only cell executions, not widget messages), the
#: kernel is idle, and nothing has changed for ``quiet`` seconds
_DONE = """(quiet) => {
  const s = window.__nnrepBench, bar = document.querySelector('#jp-main-statusbar');
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  const idle = bar && /Idle/.test(bar.textContent) && (!kernel || kernel.status === 'idle') && s.idle >= s.busy;
  const since = performance.now() - Math.max(s.last || 0, s.t0 || 0);
  return s.t0 !== null && idle && since > quiet * 1000 ? s : null;
}"""


def _slider_values(ctrl: dict, count: int) -> list[str]:
    """Readout texts for ``count`` positions the slider has not shown: spread over its range
    (in exponent space for a log slider, whose handle carries exponents)."""
    lo, hi, now = ctrl["min"], ctrl["max"], ctrl["now"]
    try:
        shown = float(ctrl["readout"])
    except ValueError:
        shown = now
    log = abs(shown - now) > 1e-9 * max(1.0, abs(now)) and shown > 0 and abs(10 ** now - shown) <= 1e-6 * shown + 1e-12
    integer = all(float(v).is_integer() for v in (lo, hi, now)) and "." not in ctrl["readout"] and "e" not in ctrl["readout"]
    fractions = [0.8, 0.2, 0.6, 0.35, 0.9, 0.1, 0.7, 0.45, 0.95, 0.05, 0.55, 0.25]
    out, seen = [], {round(now, 9)}
    step = ctrl.get("step")
    for f in fractions:
        if len(out) == count:
            break
        x = lo + f * (hi - lo)
        if step:  # a position the slider can take (its handle's grid), as dragging gives
            x = lo + round((x - lo) / step) * step
        if integer:
            x = float(round(x))
        if round(x, 9) in seen:
            continue
        seen.add(round(x, 9))
        out.append(f"{10 ** x:.4g}" if log else (f"{int(x)}" if integer else f"{x:.4g}"))
    return out


def _prepare(page, ctrl: dict, value) -> None:
    """What comes before the input event: typing a value into a slider's readout or a number box
    (the clock starts at the Enter key, not at the click that focuses the box)."""
    el = page.locator(f'[data-nnrep-bench="{ctrl["id"]}"]')
    kind = ctrl["kind"]
    if kind == "slider" and not _is_selection_slider(ctrl):
        readout = el.locator(".widget-readout")
        readout.click()
        readout.fill(value)
    elif kind == "number":
        box = el.locator("input[type=number]") if el.locator("input[type=number]").count() else el
        box.fill(str(value))


def _act(page, ctrl: dict, value) -> None:
    """The input event itself (after :func:`_prepare`)."""
    el = page.locator(f'[data-nnrep-bench="{ctrl["id"]}"]')
    kind = ctrl["kind"]
    if kind == "slider" and _is_selection_slider(ctrl):  # one key step
        el.locator("[role=slider]").press(value)
    elif kind == "slider":
        el.locator(".widget-readout").press("Enter")
    elif kind == "dropdown":
        el.locator("select").select_option(value)
    elif kind == "toggles":
        el.locator("button").nth(value).click()
    elif kind == "checkbox":
        el.locator("input").click()
    elif kind == "button":
        el.click()
    elif kind == "number":
        box = el.locator("input[type=number]") if el.locator("input[type=number]").count() else el
        box.press("Enter")


def _is_selection_slider(ctrl: dict) -> bool:
    """A selection slider's handle moves over option indices: its readout is neither the
    handle's value nor 10 to its power."""
    try:
        shown = float(ctrl["readout"])
    except ValueError:
        return True
    now = ctrl["now"]
    close = lambda a, b: abs(a - b) <= 1e-6 * max(1.0, abs(b))  # noqa: E731
    return not (close(shown, now) or close(shown, 10 ** now))


def _plan(ctrl: dict, changes: int) -> list:
    kind = ctrl["kind"]
    if kind == "slider" and _is_selection_slider(ctrl):
        # one key step at a time, away from the nearer end: every step shows a new position
        up = int(round(ctrl["max"] - ctrl["now"]))
        down = int(round(ctrl["now"] - ctrl["min"]))
        key, room = ("ArrowRight", up) if up >= down else ("ArrowLeft", down)
        return [key] * min(changes, room)
    if kind == "slider":
        return _slider_values(ctrl, changes)
    if kind in ("dropdown", "toggles"):
        opts = list(range(len(ctrl["options"]))) if kind == "toggles" else ctrl["options"]
        now = ctrl["now"]
        return [o for o in opts if o != now][:changes]
    if kind == "checkbox":
        return [None]  # a second flip would show a state seen before
    if kind == "button":
        return [None] * min(changes, 2)
    if kind == "number":
        now = ctrl["now"]
        vals = [now * 2 if now else 1, now + 1, max(1, now // 2) if float(now).is_integer() else now / 2]
        if ctrl.get("max") is not None:
            vals = [min(v, ctrl["max"]) for v in vals]
        if ctrl.get("min") is not None:
            vals = [max(v, ctrl["min"]) for v in vals]
        return [v for i, v in enumerate(vals) if v != now and v not in vals[:i]][:changes]
    return []


def measure_control(page, ctrl: dict, changes: int, timeout_s: float = 120) -> dict:
    """Time each planned change of ``ctrl``: from the input event until a figure of its output
    shows new data (``median_s``, ``worst_s``: the new state on screen; for a panel that
    previews or streams, the first result it shows, which its status line names), and until the
    last redraw (``end_median_s``, ``end_worst_s``: the refined or finished state). A change that
    redraws but moves no data (a layout-only control) counts its last redraw for both."""
    shown, to_end, to_first, no_redraw, msg = [], [], [], 0, []
    parts = {"to_socket": [], "to_kernel": [], "kernel": [], "wire": [], "page": []}
    for value in _plan(ctrl, changes):
        _prepare(page, ctrl, value)
        page.evaluate(_ARM, ctrl["area"])
        _act(page, ctrl, value)
        handle = page.wait_for_function(_DONE, arg=QUIET_S, timeout=timeout_s * 1000, polling=50)
        st = handle.json_value()
        if os.environ.get("NNREP_BENCH_DEBUG"):
            print(ctrl["label"], value, {k: st.get(k) for k in ("t0Event", "t0", "wsSend", "busySent", "shown", "n")},
                  flush=True)
        if not st["n"]:
            no_redraw += 1
            continue
        to_end.append((st["last"] - st["t0"]) / 1000)
        to_first.append((st["first"] - st["t0"]) / 1000)
        shown.append(((st["shown"] if st["shown"] is not None else st["last"]) - st["t0"]) / 1000)
        if st.get("msgBeforeShown") is not None:  # the kernel's last message before the new data showed
            msg.append((st["msgBeforeShown"] - st["t0"]) / 1000)
            if st.get("busySent") is not None and st.get("msgSent") is not None and st["shown"] is not None:
                if st.get("wsSend") is not None:  # input until the page sends it
                    parts["to_socket"].append((st["wsSend"] - st["t0"]) / 1000)
                parts["to_kernel"].append((st["busySent"] - st["t0"]) / 1000)  # input until the kernel starts
                parts["kernel"].append((st["msgSent"] - st["busySent"]) / 1000)  # until it sends the new data
                parts["wire"].append((st["msgBeforeShown"] - st["msgSent"]) / 1000)  # until the page has it
                parts["page"].append((st["shown"] - st["msgBeforeShown"]) / 1000)  # until it is drawn
    med = lambda v: statistics.median(v) if v else None  # noqa: E731
    return {
        "kind": ctrl["kind"], "label": ctrl["label"], "changes": len(to_end), "no_redraw": no_redraw,
        "median_s": med(shown), "worst_s": max(shown) if shown else None,
        "end_median_s": med(to_end), "end_worst_s": max(to_end) if to_end else None,
        "first_redraw_median_s": med(to_first),
        "kernel_message_median_s": med(msg),  # input to the widget message that drew the new data
        # medians of where the time to new data goes (clocks of one machine, 1 ms resolution)
        "split_median_s": {k: med(v) for k, v in parts.items()},
    }


def measure(notebooks, *, profile: str, changes: int):
    """Open each notebook in JupyterLab (``profile``), Run All, and time every control of every
    output with a figure (:func:`measure_control`). Returns ``(per_control, run_s, errors)``."""
    from playwright.sync_api import sync_playwright

    per_control: dict[str, dict] = {}
    run_s: dict[str, float] = {}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="nnrep-bench-browser-") as tmp_name:
        tmp = Path(tmp_name)
        root = tmp / "root"
        root.mkdir()
        for nb in notebooks:
            shutil.copy(nb, root / nb.name)
        B.write_lab_settings(tmp, windowing=WINDOWING)
        port, tok = B.free_port(), B.token()
        base = f"http://127.0.0.1:{port}"
        env = B.server_env(tmp, profile)
        env["OMP_NUM_THREADS"] = "1"
        with B.server(B.lab_command(port, tok, root), cwd=root, env=env,
                      probe_url=f"{base}/api/status?token={tok}",
                      log_path=ROOT / "build" / "bench-browser-jupyterlab.log"), sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(tmp / "chromium"), executable_path=B.CHROMIUM, headless=True,
                args=B.CHROMIUM_ARGS, viewport=B.VIEWPORT)
            try:
                for nb in notebooks:
                    page = context.new_page()
                    try:
                        B.open_notebook(page, base, tok, nb.name)
                        t0 = time.perf_counter()
                        state = B.run_all_and_wait(page, nb.name, timeout_s=900)
                        run_s[nb.stem] = round(time.perf_counter() - t0, 1)
                        if state["errors"]:
                            errors[nb.stem] = "; ".join(state["errors"])[:400]
                            continue
                        for ctrl in page.evaluate(_CONTROLS):
                            key = f"{nb.stem}/{ctrl['area']}/{ctrl['kind']}:{ctrl['label']}"
                            try:
                                per_control[key] = measure_control(page, ctrl, changes)
                            except Exception as exc:  # a control that never settles
                                per_control[key] = {"kind": ctrl["kind"], "label": ctrl["label"],
                                                    "error": f"{type(exc).__name__}: {str(exc)[:200]}",
                                                    "median_s": None, "worst_s": None}
                    finally:
                        B.shutdown_kernel(page)
                        page.close()
            finally:
                context.close()
    return per_control, run_s, errors


def records(quick: bool = False, device: str = "cpu") -> list[dict]:
    from benchmarks._timing import record

    if not Path(B.CHROMIUM).exists():
        raise RuntimeError(f"{B.CHROMIUM} not found: run `bash scripts/ensure_browser.sh` (needs root)")

    changes = 2 if quick else 4
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    only = [p.strip() for p in os.environ.get("NNREP_BROWSER_NOTEBOOKS", "").split(",") if p.strip()]
    if only:  # a subset, e.g. NNREP_BROWSER_NOTEBOOKS=01,03 while working on those panels
        notebooks = [nb for nb in notebooks if nb.stem.startswith(tuple(only))]
        if not notebooks:
            raise ValueError(f"NNREP_BROWSER_NOTEBOOKS={only} matches no notebook")
    per_control, run_s, errors = measure(notebooks, profile="default", changes=changes)
    timed = {k: v for k, v in per_control.items() if v.get("median_s") is not None}
    failed = {k: v["error"] for k, v in per_control.items() if v.get("error")}
    bad = bool(errors or failed or not timed)
    worst_median = max(timed, key=lambda k: timed[k]["median_s"]) if timed else None
    worst_single = max(timed, key=lambda k: timed[k]["worst_s"]) if timed else None
    common = {"profile": "default", "changes_per_control": changes, "viewport": B.VIEWPORT, "windowing": WINDOWING,
              "notebooks": [nb.stem for nb in notebooks], "subset": bool(only),
              "notebook_run_s": run_s, "notebook_errors": errors, "control_errors": failed,
              "no_redraw": sorted(k for k, v in per_control.items() if v.get("no_redraw")),
              "device": "cpu (panels)", "requested_device": device}
    slowest_end = max(timed, key=lambda k: timed[k]["end_worst_s"]) if timed else None
    common["slowest_to_end"] = {"control": slowest_end,
                                "end_worst_s": timed[slowest_end]["end_worst_s"] if timed else None}
    inf = float("inf")
    return [
        record("browser_update_latency", inf if bad else timed[worst_median]["median_s"], BUDGET_S, 1.0,
               "150 ms from the input event to new data in the browser's figure (worst control's median)",
               {"worst_control": worst_median, "controls": per_control, **common}),
        record("browser_update_worst", inf if bad else timed[worst_single]["worst_s"], WORST_BUDGET_S, 1.0,
               "1 s from the input event to new data in the browser's figure (slowest single change)",
               {"worst_control": worst_single, **common}),
    ]


if __name__ == "__main__":  # pragma: no cover
    import sys

    print(json.dumps(records(quick="--quick" in sys.argv), indent=1, default=str))
