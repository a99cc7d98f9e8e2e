"""dashboard_steps.py - the coordinators' part of the reference scenarios,
run by test_desk_scenarios.py after the desks' parts (its coordinator_part
hook) with the deployment and the cases the desks made:
  * a coordinator logs in at the coordinators' site; 数据 shows the year's
    figures the scenarios made, every table exactly Router/GetFigures and the
    report text exactly `mediactl report --json`;
  * the overview's count of open cases is the router's;
  * the referral case (closed with an agreement by 孔雀社区) offers the
    coordinator 重新调处 and nothing else; done with a reason, the case is
    back in mediation and the overview shows one more case 调处 at 孔雀社区
    (the figures change after a step);
  * the access log of the case names the coordinator; no console errors.
The dashboard's own test (test_dashboard.py) checks the rest (recall, the
restriction, 健康, the phone, the print layout).
"""

import json
import time

import webtest
from harness import Desk, check_console


def table_cells(b, css):
    return b.drv.execute_script("""
        return [...document.querySelectorAll(arguments[0] + ' tbody tr')].map((tr) => [tr.dataset.key,
          Object.fromEntries([...tr.querySelectorAll('td[data-k]')].map((td) => [td.dataset.k, td.textContent]))]);""", css)


def open_count(b, unit, state):
    return b.drv.execute_script("""
        const td = document.querySelector('#counts tr[data-unit="' + arguments[0] + '"] td[data-state="' + arguments[1] + '"]');
        return td ? Number(td.textContent) : -1;""", unit, state)


def run(d, c, cases):
    t0 = time.time()
    year = webtest.year()
    api = d.client("coordinators")
    c.status(api.login(*d.coord_person), 200, "coordinator: logs in over the API")
    b = Desk.open(d, "coordinators", webtest.COORDINATOR)
    try:
        # 数据 after the scenarios.
        b.go("/figures?year=%d" % year)
        b.css("#tbl-kind")
        for group, key in (("month", lambda x: str(int(x.get("month", 0)))),
                           ("community", lambda x: x.get("community", "")),
                           ("unit", lambda x: x.get("unit", "")),
                           ("kind", lambda x: x.get("kind", ""))):
            r = api.call("Router", "GetFigures", {"year": year, "group_by": group})
            want = {key(x["bucket"]): x.get("counters") or {} for x in r.json.get("rows", [])}
            got = table_cells(b, "#tbl-" + group)
            bad = [(k, ck, cells[ck]) for k, cells in got for ck in ("taken_in", "mediated", "resolved", "closed")
                   if int(cells[ck]) != int(want.get(k, {}).get(ck, 0) or 0)]
            c.check(got and not bad and all(k in dict(got) for k in want),
                    "coordinator: 数据 by %s is GetFigures after the scenarios" % group, bad)
        total = api.call("Router", "GetFigures", {"year": year}).json.get("total", {}).get("counters", {})
        c.check(int(total.get("closed", 0)) >= 1 and int(total.get("litigated", 0)) >= 1,
                "coordinator: the scenarios' closed and litigated cases are in the figures", total)
        rc, out = d.ctl("report", "--year", str(year), "--json")
        want = json.loads(out) if rc == 0 else {}
        lines = b.drv.execute_script("return [...document.querySelectorAll('#report-text p')].map((x) => x.textContent)")
        c.check(want and b.css("#report-title").text == want.get("title") and lines == want.get("sentences"),
                "coordinator: the report text is `mediactl report`'s", "%s\n%s" % (out[:800], lines))
        b.screenshot("dashboard-figures")

        # The overview, then 重新调处 on the closed referral case.
        b.go("/overview")
        b.css("#open-total")
        open_ids = set()
        for state in ("intake", "transfer", "mediation", "feedback", "litigation"):
            cursor = ""
            while True:
                r = api.call("Router", "ListCases", {"state": state, "page_size": 500, "cursor": cursor})
                open_ids.update(x["id"] for x in r.json.get("cases", []))
                cursor = r.json.get("next_cursor", "")
                if not cursor:
                    break
        shown = int(b.css("#open-total").text.split()[0])
        c.check(shown == len(open_ids), "coordinator: the overview counts the router's %d open cases"
                % len(open_ids), shown)
        case_id = cases.get("referral")
        if case_id:
            holder = api.call("Router", "GetCase", {"case_ref": case_id}).json["case_record"]["holder"]
            before = open_count(b, holder, "mediation")
            b.go("/cases/" + case_id)
            b.css(".case-head")
            acts = [x.get_attribute("data-action") for x in b.all(".case-actions button")]
            c.check(acts == ["reopen"], "coordinator: a case closed with an agreement offers 重新调处 only", acts)
            b.click_button("重新调处")
            b.css("form.step-form textarea").send_keys("协议未履行，当事人再次申请")
            b.css("form.step-form button[type=submit]").click()
            b.text_in("#case-msg", "已重新调处")
            c.check("重新调处" in b.css(".timeline").text and webtest.COORDINATOR in b.css(".timeline").text,
                    "coordinator: the case file records the reopen by the coordinator")
            b.go("/overview")
            b.css("#counts")
            after = open_count(b, holder, "mediation")
            c.check(after == before + 1, "coordinator: the overview shows one more case 调处 at the "
                    "holder after the reopen (%d -> %d)" % (before, after))
            b.go("/cases/%s/access" % case_id)
            b.css("main table")
            c.check(webtest.COORDINATOR in b.css("main table").text,
                    "coordinator: the access log names the coordinator")
            b.screenshot("dashboard-access")
        check_console(c, b, "coordinator: 数据, 总览, the case, the access log")
    finally:
        b.close()
    print("  (coordinator: %.1f s)" % (time.time() - t0), flush=True)

