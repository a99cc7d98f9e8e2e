"""test_dashboard.py - the coordinators' dashboard in a real browser
(headless Chromium through Selenium) against a live deployment
(tests/web/webtest.py: mkdeploy, the router, the police and marriage
studios, their gateways and the coordinators' gateway serving the pages
from the source tree's web/static).

What it checks:
  * the coordinator's part of the reference scenario: the police desk takes a
    case in (its policy offers it to the marriage studio) and the overview's
    counts, today's offers and the offers waiting longest, and the 数据
    figures change accordingly;
  * every 数据 table holds exactly what Router/GetFigures returns, and the
    report text (the gateway's GET /api/v1/report, documents/'s builder) is
    sentence for sentence `mediactl report --json`'s; 下载年度报告 gives
    the year's report PDF;
  * the case page (read-only, personal data masked), 撤回流转 refused without
    a reason at the field, then done with one (the case file names the
    coordinator), and the access log naming the coordinator;
  * Router/Apply on the coordinators' site takes only recall and reopen;
  * 健康 shows the router serving and the offers queue, a row per unit with
    its last contact (从未 for a station with no daemon) and its pending
    deliveries as RouterAdmin/Status counts them, and the last backups;
  * a unit's person cannot open the dashboard (not an account on the
    coordinators' site; the unit site has no dashboard routes or methods);
  * every input labelled, no console errors, no horizontal scrolling at
    390x844; a screenshot of each view (desktop and phone) in
    BUILD/screenshots/dashboard/.
Usage: test_dashboard.py SRC BUILD (exit 77 when selenium or chromium is
missing: deploy/install-deps --test installs them).
"""

import base64
import json
import os
import re
import shutil
import subprocess
import sys
import time

if __name__ == "__main__":
    try:
        import selenium  # noqa: F401
    except ImportError:
        # ctest may find a python3 without Debian's packages (pyenv): Debian's has them.
        if sys.executable != "/usr/bin/python3" and os.access("/usr/bin/python3", os.X_OK):
            os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
        print("SKIP: python3-selenium is not installed")
        sys.exit(77)

from selenium import webdriver  # noqa: E402
from selenium.common.exceptions import (  # noqa: E402
    StaleElementReferenceException, TimeoutException, WebDriverException)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

SRC, BUILD = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(SRC, "tests", "web"))
import webtest  # noqa: E402

CANARY_ID = "11010519491231002X"
SHOTS = os.path.join(BUILD, "screenshots", "dashboard")


def static_dir(text):
    """The gateways serve the pages from the source tree (no install needed);
    the router's largest list page is lowered below the 500 the overview asks
    for, so its fall back to the router's own page size is exercised."""
    text = text.replace("page_size_max = 500", "page_size_max = 200", 1)
    return text.replace("[web]\n", "[web]\nstatic_dir = %s\n" % os.path.join(SRC, "web", "static"), 1)


def new_browser(width=1280, height=900):
    o = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=%d,%d" % (width, height), "--lang=zh-CN"):
        o.add_argument(a)
    if width < 500:
        # Chromium keeps a window at least ~500 px wide: a phone is emulated.
        o.add_experimental_option("mobileEmulation", {"deviceMetrics": {
            "width": width, "height": height, "pixelRatio": 2}})
    o.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    svc = webdriver.ChromeService(executable_path="/usr/bin/chromedriver") \
        if hasattr(webdriver, "ChromeService") else None
    b = webdriver.Chrome(options=o, service=svc) if svc else webdriver.Chrome(options=o)
    b.set_page_load_timeout(30)
    return b


class Page:
    """One logged-in browser on one site."""

    def __init__(self, d, site, name, password, width=1280, height=900):
        self.d, self.site = d, site
        self.base = "http://127.0.0.1:%d/" % d.site_port(site)
        self.b = new_browser(width, height)
        self.b.get(self.base + "#/login")
        self.wait_css("form.login-form")
        self.b.find_element(By.CSS_SELECTOR, "input[autocomplete=username]").send_keys(name)
        pw = self.b.find_element(By.CSS_SELECTOR, "input[type=password]")
        pw.send_keys(password)
        pw.submit()
        self.wait_css("#nav a")
        # The one expected error before login: GET /api/v1/session answers 401
        # while nobody is logged in (Chromium logs every 4xx). Drain it.
        self.before_login = self.console_errors()

    def wait(self, fn, what, timeout=15):
        try:
            # A view redrawn while it is read leaves stale elements: look again.
            return WebDriverWait(self.b, timeout, poll_frequency=0.05,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(
                lambda b: fn())
        except TimeoutException:
            raise AssertionError("timed out waiting for %s at %s; console: %s; main: %s" % (
                what, self.b.current_url, self.console_errors(),
                self.b.find_element(By.TAG_NAME, "main").text[:300]))

    def wait_css(self, css, timeout=15):
        return self.wait(lambda: self.b.find_elements(By.CSS_SELECTOR, css), css, timeout)[0]

    def go(self, path, ready_css):
        url = self.base + "#" + path
        if self.b.current_url == url:
            self.b.refresh()  # the same hash fires no hashchange: reload to read anew
        else:
            self.b.get(url)
        self.wait(lambda: self.b.find_elements(By.CSS_SELECTOR, ready_css) and
                  not self.b.find_elements(By.CSS_SELECTOR, "main[aria-busy]"), path)

    def js(self, script, *args):
        return self.b.execute_script(script, *args)

    def text(self, css):
        for _ in range(20):
            try:
                return self.b.find_element(By.CSS_SELECTOR, css).text
            except StaleElementReferenceException:
                time.sleep(0.05)  # redrawn under us: read the new one
        return self.b.find_element(By.CSS_SELECTOR, css).text

    def table(self, css):
        """Rows of a table as lists of cell texts (header row excluded)."""
        return self.js("""
            return [...document.querySelectorAll(arguments[0] + ' tbody tr')].map(
              (tr) => [...tr.children].map((c) => c.textContent.trim()));""", css)

    def console_errors(self):
        """SEVERE entries since the last call, but for the 400s of the
        overview's first ListCases pages, refused by the lowered
        page_size_max and asked again at the router's size (static_dir())."""
        try:
            return [e for e in self.b.get_log("browser") if e.get("level") == "SEVERE" and
                    not ("/api/v1/Router/ListCases" in e.get("message", "") and
                         "status of 400" in e.get("message", ""))]
        except WebDriverException:
            return []

    def unlabelled(self):
        return self.js("""
            return [...document.querySelectorAll('input, select, textarea')].filter((i) =>
              !(i.id && document.querySelector('label[for="' + i.id + '"]')) &&
              !i.getAttribute('aria-label') && !i.closest('label')).map((i) => i.outerHTML);""")

    def shot(self, name):
        os.makedirs(SHOTS, exist_ok=True)
        self.b.save_screenshot(os.path.join(SHOTS, name + ".png"))

    def close(self):
        self.b.quit()


# Every element with its own text: its colour against the first opaque
# background up the tree (alpha-blended text colour ignored: none is used).
# Large text (>= 24 px, or >= 18.66 px bold) needs 3:1, the rest 4.5:1.
CONTRAST = """
function rgb(s) { const m = s.match(/[\\d.]+/g); return m ? m.map(Number) : [0, 0, 0, 0]; }
function lum(c) { const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]); }
function bg(e) { for (; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
  if (c.length < 4 || c[3] > 0) return c; } return [255, 255, 255]; }
const out = [];
for (const e of document.querySelectorAll('body *')) {
  if (![...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim())) continue;
  const st = getComputedStyle(e);
  if (st.visibility === 'hidden' || st.display === 'none' || !e.getClientRects().length) continue;
  if (e.closest('svg')) continue;  // chart labels: checked by their own colours in dashboard.css
  const a = lum(rgb(st.color)), b = lum(bg(e));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  const size = parseFloat(st.fontSize), bold = Number(st.fontWeight) >= 700;
  const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
  if (ratio < need) out.push(e.tagName + ' "' + e.textContent.trim().slice(0, 20) + '" ' + ratio.toFixed(2));
}
return out;
"""


def figures(coord, group_by):
    r = coord.call("Router", "GetFigures", {"year": webtest.year(), "group_by": group_by})
    assert r.status == 200, r.text()
    return r.json


def counter(c, k):
    return int((c or {}).get(k, 0) or 0)


def main(d, c):
    year = webtest.year()
    coord_name, coord_pw = d.coord_person
    api = d.client("coordinators")
    c.status(api.login(coord_name, coord_pw), 200, "the coordinator logs in over the API")
    police = d.client("police-studio")
    c.status(police.login("马德顺", d.passwords[("police-studio", "马德顺")]), 200,
             "a police officer logs in")

    # A first case so the lists are not empty, then the page.
    r = police.call("Desk", "TakeIn", webtest.intake("邻里之间因琐事争执")) 
    c.status(r, 200, "the police desk takes a first case in")
    p = Page(d, "coordinators", coord_name, coord_pw)
    phone = None
    try:
        p.wait_css("#nav a")
        p.go("/overview", "#counts")
        c.check(p.b.title.startswith("总览"), "the overview is the coordinator's home", p.b.title)
        before_total = int(p.text("#open-total").split()[0])
        before_offer = p.js("""
            const td = document.querySelector('#counts tr[data-unit="marriage-studio"] td[data-state="transfer"]');
            return td ? Number(td.textContent) : -1;""")
        c.check(before_offer >= 1, "the overview counts the marriage studio's offer", before_offer)
        fig0 = figures(api, "month")
        month = time.gmtime(time.time() + 8 * 3600).tm_mon
        taken0 = next((counter(x.get("counters"), "taken_in") for x in fig0.get("rows", [])
                       if int(x["bucket"].get("month", 0)) == month), 0)

        # The desk step: the police studio takes a case in with a canary ID
        # number; its policy offers it to the marriage studio.
        r = police.call("Desk", "TakeIn", webtest.intake("夫妻感情纠纷", parties=[
            {"name": "某丙", "role": "applicant", "id_number": CANARY_ID, "phone": "13800138000"},
            {"name": "某丁", "role": "respondent"}]))
        c.status(r, 200, "the police desk takes the scenario's case in")
        case_id = (r.json.get("case_record") or {}).get("id", "")
        c.check(case_id, "the case has a router id", r.text()[:400])

        p.go("/overview", "#counts")
        p.wait(lambda: int(p.text("#open-total").split()[0]) == before_total + 1, "the new total")
        after_offer = p.js("""
            return Number(document.querySelector('#counts tr[data-unit="marriage-studio"] td[data-state="transfer"]').textContent);""")
        c.check(after_offer == before_offer + 1, "after the desk step the overview shows one more offer "
                "to the marriage studio (%d -> %d)" % (before_offer, after_offer))
        p.wait_css("#ov-today table")
        c.check(case_id in p.text("#ov-today"), "today's handoffs list the new offer")
        c.check(p.js("return !!document.querySelector('#ov-today span.deadline time[datetime]')"),
                "the offer's deadline is a deadline cell (common/casecells.js)")
        c.check(case_id in p.text("#ov-waiting"), "offers waiting longest list it")
        c.check(p.text("#ov-overdue h2") == "逾期" and "逾期" in p.text("#ov-overdue"),
                "the overdue section answers (Router/Stuck)")
        p.shot("overview-desktop")

        # 数据: the figures changed, and every table is GetFigures exactly.
        p.go("/figures?year=%d" % year, "#tbl-month")
        row = p.table("#tbl-month")[month - 1]
        c.check(int(row[1]) == taken0 + 1, "数据 shows this month's intake one higher after the "
                "desk step (%d -> %s)" % (taken0, row[1]))
        for group, css, key in (("month", "#tbl-month", lambda b: str(int(b.get("month", 0)))),
                                ("community", "#tbl-community", lambda b: b.get("community", "")),
                                ("unit", "#tbl-unit", lambda b: b.get("unit", "")),
                                ("kind", "#tbl-kind", lambda b: b.get("kind", ""))):
            rep = figures(api, group)
            want = {key(x["bucket"]): x.get("counters") for x in rep.get("rows", [])}
            got = p.js("""
                return [...document.querySelectorAll(arguments[0] + ' tbody tr')].map((tr) => [tr.dataset.key,
                  Object.fromEntries([...tr.querySelectorAll('td[data-k]')].map((td) => [td.dataset.k, td.textContent]))]);""", css)
            bad = []
            for k, cells in got:
                cnt = want.get(k, {})
                for ck in ("taken_in", "mediated", "resolved", "closed"):
                    if int(cells[ck]) != counter(cnt, ck):
                        bad.append((k, ck, cells[ck], counter(cnt, ck)))
            missing = [k for k in want if k not in [g[0] for g in got]]
            c.check(not bad and not missing and got, "the by-%s table matches GetFigures (%d rows)"
                    % (group, len(got)), "diff %s missing %s" % (bad, missing))
            c.check(p.js("return !!document.querySelector('#fig-%s svg.chart rect.bar')" % group),
                    "the by-%s chart is drawn (SVG bars)" % group)
        rc, out = d.ctl("report", "--year", str(year), "--json")
        want = json.loads(out) if rc == 0 else {}
        got_title = p.text("#report-title")
        got_lines = p.js("return [...document.querySelectorAll('#report-text p')].map((x) => x.textContent)")
        c.check(rc == 0 and got_title == want.get("title") and got_lines == want.get("sentences"),
                "the report text is exactly `mediactl report --json`'s", "mediactl: %s\npage: %s %s"
                % (out[:1500], got_title, got_lines))
        # 下载年度报告: the year's annual report PDF from the gateway, with
        # the session's cookie (docs/web.md), fetched as the link would be.
        dl = p.js("""const a = document.querySelector('#report-download');
            if (!a) return null;
            return fetch(a.href).then(async (r) => [a.getAttribute('href'), r.status,
              r.headers.get('Content-Type'), (await r.text()).slice(0, 5)]);""")
        c.check(dl == ["/api/v1/documents/report?year=%d" % year, 200, "application/pdf", "%PDF-"],
                "下载年度报告 downloads the year's report as a PDF", dl)
        # The print layout: no navigation or buttons, the report and the
        # charts kept; an A4 PDF as Chromium prints it, to the build dir.
        p.b.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print"})
        shown = p.js("""return ['#top', '.toolbar', '#report', '#fig-month svg', '#scorecard'].map((s) => {
            const e = document.querySelector(s); return !!e && getComputedStyle(e).display !== 'none'; });""")
        c.check(shown == [False, False, True, True, True], "the print layout hides the navigation and "
                "the year chooser, keeps the report, the charts and the scorecard", shown)
        p.b.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": ""})
        pdf = p.b.execute_cdp_cmd("Page.printToPDF", {"preferCSSPageSize": True})
        os.makedirs(SHOTS, exist_ok=True)
        pdf_path = os.path.join(SHOTS, "figures-print.pdf")
        with open(pdf_path, "wb") as f:
            f.write(base64.b64decode(pdf["data"]))
        if shutil.which("pdfinfo"):
            info = subprocess.run(["pdfinfo", pdf_path], stdout=subprocess.PIPE).stdout.decode()
            c.check(re.search(r"Page size:.*pts \(A4\)", info),
                    "数据 prints on A4 (%s)" % pdf_path, info)
        card = p.table("#scorecard table")
        c.check(card and card[-1][0] == "合计", "the community scorecard has a row per community "
                "and the total", card)
        want_card = [[x["name"], str(x["cases"]), str(x["mediated"])] for x in want.get("scorecard", [])]
        c.check([r[:3] for r in card[:-1]] == want_card, "the scorecard's communities, cases and "
                "mediated are `mediactl report`'s", "%s\n%s" % (card, want_card))
        p.shot("figures-desktop")

        # The case page: read-only, masked, with 撤回流转 (the case is on offer).
        p.go("/cases/" + case_id, ".case-head")
        c.check(CANARY_ID not in p.b.page_source, "the ID number is masked in the page (canary "
                "absent from the DOM)")
        btn = p.b.find_elements(By.CSS_SELECTOR, "button[data-action=recall]")
        c.check(len(btn) == 1 and not p.b.find_elements(By.CSS_SELECTOR, "button[data-action=reopen]"),
                "a case on offer offers the coordinator 撤回流转 only")
        p.shot("case-desktop")
        btn[0].click()
        form = p.wait_css("form.step-form")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        err = p.wait_css(".field-error:not([hidden])")
        c.check(err.text == "请填写理由", "撤回流转 without a reason is refused at the field", err.text)
        form.find_element(By.CSS_SELECTOR, "textarea").send_keys("接收单位联系不上，先撤回")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        p.wait(lambda: "已撤回流转" in p.text("#case-msg"), "the recall's message")
        tl = p.text(".timeline")
        c.check("撤回流转" in tl and coord_name in tl, "the case file shows the recall by the "
                "coordinator person", tl[-400:])
        r = api.call("Router", "GetCase", {"case_ref": case_id})
        c.check(r.status == 200 and r.json["case_record"]["state"] == "intake",
                "the router has the case back in intake with the police studio", r.text()[:300])

        # The restriction: every other step is refused by the gateway.
        for kind in ("accept", "transfer", "close", "withdraw"):
            r = api.call("Router", "Apply", {"action": {"kind": kind, "case_ref": case_id,
                                                        "reason": "x", "to_unit": "marriage-studio"}})
            c.error(r, 403, "PERMISSION_DENIED", "the coordinators' Router/Apply refuses %s" % kind,
                    "recall and reopen")

        # 案件: the list with a filter in the URL, and opening a case by number.
        p.go("/cases?holder=police-studio", "#case-list table, #case-list .empty")
        c.check(case_id in p.text("#case-list"), "案件 filtered by the police studio lists the "
                "recalled case", p.text("#case-list")[:300])
        box = p.b.find_element(By.CSS_SELECTOR, "form.find input")
        box.send_keys(case_id)
        box.submit()
        p.wait(lambda: p.b.current_url.endswith("#/cases/" + case_id) and
               p.b.find_elements(By.CSS_SELECTOR, ".case-head"), "the case opened by number")
        c.ok("案件编号 opens the case page")
        c.check(p.text(".case-head dd .badge") == "受理",
                "the case page's state badge says 受理 (common/casecells.js)", p.text(".case-head"))

        # The access log names the coordinator's reads.
        p.go("/cases/%s/access" % case_id, "main table")
        rows = p.table("main table")
        c.check(any(coord_name in r[1] for r in rows) and any(r[3] == "案卷全文" for r in rows),
                "the access log lists the coordinator's reading of the case file", rows)
        p.shot("access-desktop")

        # 健康.
        p.go("/health", "#health-router dl, #health-router .notice")
        c.check("正常服务" in p.text("#health-router") and "mediation-router" in p.text("#health-router"),
                "健康 shows the router serving", p.text("#health-router"))
        p.wait_css("#health-queues table, #health-queues .empty")
        c.check("待接收" in p.text("#health-queues") or "没有待接收" in p.text("#health-queues"),
                "健康 shows the offers queue")
        # The units as the router sees them (RouterAdmin/Status): a row per
        # registered unit; the studios' daemons pull (a time), the stations
        # run no daemon here (从未); 待签收 is the router's count.
        p.wait_css("#health-units table, #health-units .notice")
        st = api.call("RouterAdmin", "Status", {})
        c.check(st.status == 200 and len(st.json.get("units", [])) == 5,
                "RouterAdmin/Status lists the five units", st.text()[:300])
        status = {u["name"]: u for u in st.json.get("units", [])}

        def units_match():
            rows = p.table("#health-units table")
            now = api.call("RouterAdmin", "Status", {}).json.get("units", [])
            want = {u["name"]: str(int(u.get("pending_deliveries", 0))) for u in now}
            return len(rows) == len(want) and all(r[0] in want and r[2] == want[r[0]] for r in rows)
        p.wait(units_match, "健康's 待签收 per unit as RouterAdmin/Status counts them")
        rows = {r[0]: r for r in p.table("#health-units table")}
        name_of = {u["unit"]: n for n, u in status.items()}
        studio_row = rows.get(name_of.get("police-studio"))
        station_row = rows.get(name_of.get("station-wangai"))
        c.check(studio_row and "从未" not in studio_row[1] and re.search(r"\d{2}:\d{2}", studio_row[1]),
                "健康 shows when the police studio's daemon last pulled", studio_row)
        c.check(station_row and station_row[1] == "从未",
                "健康 says 从未 for a station whose daemon never ran", station_row)
        c.check("上次定时备份" in p.text("#health-store") and "上次手动备份" in p.text("#health-store"),
                "健康 shows the last scheduled and manual backups", p.text("#health-store"))
        p.shot("health-desktop")

        # The keyboard: Tab from the top of the page reaches 数据 in the
        # navigation, Enter opens it; a focused element is always visible.
        p.go("/overview", "#counts")
        p.js("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);")
        body = p.b.find_element(By.TAG_NAME, "body")
        reached = False
        for _ in range(12):
            body.send_keys(Keys.TAB)
            active = p.b.switch_to.active_element
            if active.tag_name == "a" and active.text.strip() == "数据":
                reached = True
                break
            body = active
        c.check(reached, "Tab reaches 数据 in the navigation")
        if reached:
            outline = p.js("return getComputedStyle(document.activeElement).outlineStyle")
            c.check(outline not in ("none", ""), "the focused link shows its focus (%s)" % outline)
            p.b.switch_to.active_element.send_keys(Keys.ENTER)
            p.wait(lambda: p.b.find_elements(By.CSS_SELECTOR, "#tbl-month"), "数据 by the keyboard")
            c.ok("Enter on 数据 opens the figures")
        c.check(not p.unlabelled(), "every input on the views is labelled", p.unlabelled())
        for path, css in (("/overview", "#counts"), ("/figures?year=%d" % year, "#tbl-month"),
                          ("/cases/" + case_id, ".case-head"), ("/health", "#health-router dl")):
            p.go(path, css)
            low = p.js(CONTRAST)
            c.check(not low, "text contrast at least 4.5:1 on %s (WCAG AA)" % path, low[:8])
        errs = p.console_errors()
        c.check(not errs, "no console errors on the desktop run", errs)

        # The phone: each view at 390x844, no sideways scrolling.
        phone = Page(d, "coordinators", coord_name, coord_pw, 390, 844)
        phone.wait_css("#nav a")
        for path, css, name in (("/overview", "#counts", "overview"),
                                ("/figures?year=%d" % year, "#tbl-month", "figures"),
                                ("/cases/" + case_id, ".case-head", "case"),
                                ("/cases", "#case-list table", "cases"),
                                ("/cases/%s/access" % case_id, "main table", "access"),
                                ("/health", "#health-router dl", "health")):
            phone.go(path, css)
            wide, inner = phone.js("return [document.documentElement.scrollWidth, window.innerWidth]")
            c.check(wide <= 390 and inner == 390, "%s fits a 390 px phone (scrollWidth %d, "
                    "innerWidth %d)" % (name, wide, inner), phone.js("""
                    return [...document.querySelectorAll('main *')].filter((e) =>
                      e.getBoundingClientRect().right > 391).slice(0, 5).map((e) => e.outerHTML.slice(0, 120));"""))
            phone.shot(name + "-phone")
        errs = phone.console_errors()
        c.check(not errs, "no console errors on the phone run", errs)
    finally:
        p.close()
        if phone:
            phone.close()

    # A unit's person cannot open the dashboard.
    stranger = d.client("coordinators")
    r = stranger.login("马德顺", d.passwords[("police-studio", "马德顺")])
    c.check(r.status == 401, "a police officer's login is refused on the coordinators' site",
            r.text()[:200])
    r = police.call("Router", "GetFigures", {"year": year})
    c.error(r, 404, "NOT_FOUND", "the police site has no GetFigures")
    u = Page(d, "police-studio", "马德顺", d.passwords[("police-studio", "马德顺")])
    try:
        u.wait_css("#nav a")
        u.b.get(u.base + "#/figures")
        u.wait(lambda: "页面不存在" in u.text("main"), "the unit site's 页面不存在")
        c.check(not u.b.find_elements(By.CSS_SELECTOR, "#tbl-month"),
                "a unit person typing #/figures gets no dashboard")
    finally:
        u.close()


if __name__ == "__main__":
    webtest.run(main, SRC, BUILD, "dashboard", edit_conf=static_dir)
