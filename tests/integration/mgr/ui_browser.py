#!/usr/bin/python3
"""ui_browser.py URL TOKEN WORKDIR - drive vessel's web UI in headless Chromium.

Run by test_ui.sh (inside the daemon's private network namespace) with the
UI listener's URL and token.  Through the page only (clicks and typing, no
API calls of its own except to learn which optional routes the server has):
launch a busybox container, see it Running, select it, check the usage
charts draw data (uPlot canvas with the series' colour, series length > 0)
or, on a vesseld without the usage routes, the "not available" state;
snapshot it, apply advice (when the server gives some), stop it and see it
Stopped.  Prints one "ok:"/"FAIL:" line per check and
"N passed, N failed" at the end; exit status 0 only when all passed.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

URL, TOKEN, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
NAME = "web1"
DEADLINE = 90  # seconds per wait: generous, the machine may be loaded
passed = failed = 0


T0 = time.monotonic()


def check(desc, ok, detail=""):
    """One check line, with the seconds since the start (where time goes)."""
    global passed, failed
    at = f"[{time.monotonic() - T0:5.1f}s]"
    if ok:
        passed += 1
        print(f"ok: {desc} {at}", flush=True)
    else:
        failed += 1
        print(f"FAIL: {desc} {detail} {at}", flush=True)
    return ok


def route_status(path, method="GET"):
    """HTTP status of an API route (to know what this vesseld has)."""
    req = urllib.request.Request(URL + path, method=method,
                                 headers={"Authorization": "Bearer " + TOKEN})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.load(e)
        except ValueError:
            return e.code, None


def has_route(path):
    """True when the server answers path (200), False when its router does
    not know it (404 "not found"); anything else (401: a wrong token) fails."""
    st, body = route_status(path)
    if st == 200:
        return True
    if st == 404 and body and body.get("error") == "not found":
        return False
    raise SystemExit(f"FAIL: GET {path} answered {st} {body}")


def wait(desc, fn, deadline=DEADLINE):
    """Poll fn until it returns a true value; check() the outcome."""
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        try:
            v = fn()
            if v:
                check(desc, True)
                return v
        except (StaleElementReferenceException, WebDriverException) as e:
            last = e
        time.sleep(0.2)
    check(desc, False, f"(timed out after {deadline} s{'; ' + str(last).splitlines()[0] if last else ''})")
    return None


def text_of(drv, css):
    els = drv.find_elements(By.CSS_SELECTOR, css)
    return els[0].text if els else None


def row_state(drv):
    return text_of(drv, f'tr[data-instance="{NAME}"] .state')


def click(drv, css):
    drv.find_element(By.CSS_SELECTOR, css).click()


# an older vesseld, seen from the page: the routes of the usage and policy
# parts answer as a router that does not know them
OLD_SERVER_JS = """
const realFetch = window.fetch.bind(window);
const missing = /^\\/1\\.0\\/(advice|sprawl|prune|audit|metrics|instances\\/[^/]+\\/(usage|advice))/;
window.fetch = (url, opts) => missing.test(new URL(url, location.href).pathname)
  ? Promise.resolve(new Response(JSON.stringify({type: 'error', error: 'not found', error_code: 404}),
                                 {status: 404, headers: {'Content-Type': 'application/json'}}))
  : realFetch(url, opts);
"""

# pixels of the series' stroke colour in a chart's canvas (uPlot draws the
# grid and axes in grey, so these come from the data line only)
PIXELS_JS = """
const c = document.querySelector('.chart[data-chart="' + arguments[0] + '"] canvas');
if (!c) return -1;
const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
const [r, g, b] = arguments[1];
let n = 0;
for (let i = 0; i < d.length; i += 4)
  if (d[i + 3] > 200 && Math.abs(d[i] - r) < 40 && Math.abs(d[i + 1] - g) < 40 && Math.abs(d[i + 2] - b) < 40) n++;
return n;
"""


def main():
    usage = has_route(f"/1.0/advice")
    policy = has_route("/1.0/audit")
    print(f"info: server has usage routes: {usage}, policy routes: {policy}", flush=True)

    opts = webdriver.ChromeOptions()
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--no-first-run", "--disable-extensions", "--window-size=1400,1200",
              f"--user-data-dir={WORK}/profile"):
        opts.add_argument(a)
    opts.binary_location = "/usr/bin/chromium"
    svc = Service(executable_path="/usr/bin/chromedriver", log_path=f"{WORK}/chromedriver.log")
    drv = webdriver.Chrome(service=svc, options=opts)
    try:
        drv.set_page_load_timeout(DEADLINE)
        drv.get(URL + "/ui/#token=" + TOKEN)
        wait("the dashboard loads (launch form shown)",
             lambda: drv.find_elements(By.ID, "launch-name"))
        check("the token left the address bar", "token" not in drv.current_url, drv.current_url)
        wait("the instance list is loaded (0 instances)",
             lambda: text_of(drv, "#count-instances") == "0")

        # launch
        drv.find_element(By.ID, "launch-name").send_keys(NAME)
        img = drv.find_element(By.ID, "launch-image")
        img.clear()
        img.send_keys("busybox")
        drv.find_element(By.ID, "launch-cpu").send_keys("2")
        drv.find_element(By.ID, "launch-memory").send_keys("256MiB")
        if policy:
            wait("the launch form offers an expiry (policy routes)",
                 lambda: drv.find_elements(By.ID, "launch-expires"))
            drv.find_element(By.ID, "launch-expires").send_keys("7d")
        else:
            check("no expiry field at launch without the policy routes",
                  not drv.find_elements(By.ID, "launch-expires"))
        click(drv, "#launch-btn")
        wait(f"{NAME} is listed Running after Launch", lambda: row_state(drv) == "Running")
        wait("the summary counts 1 running", lambda: text_of(drv, "#count-running") == "1")
        if policy:
            wait("the list shows the expiry given at launch (in 7 d)",
                 lambda: text_of(drv, f'tr[data-instance="{NAME}"] .expires') == "in 7 d")

        # select it: the detail card with its charts (or "not available")
        click(drv, f'tr[data-instance="{NAME}"] td')
        wait("the instance's detail card opens",
             lambda: drv.find_elements(By.CSS_SELECTOR, f'#detail[data-instance="{NAME}"]'))
        check("  ... with the limits given at launch (2 CPUs, 256MiB)",
              text_of(drv, "#detail-cpu") == "2" and text_of(drv, "#detail-memory") == "256MiB",
              f"({text_of(drv, '#detail-cpu')}, {text_of(drv, '#detail-memory')})")
        if usage:
            wait("the CPU chart has series data",
                 lambda: int(drv.find_element(By.CSS_SELECTOR, '.chart[data-chart="cpu"]')
                             .get_attribute("data-points") or 0) > 0)
            for chart, rgb in (("cpu", (37, 99, 235)), ("memory", (21, 128, 61))):
                n = wait(f"the {chart} chart's canvas draws its series",
                         lambda: (lambda v: v if v > 20 else 0)(
                             drv.execute_script(PIXELS_JS, chart, list(rgb))))
                print(f"info: {chart} chart: {n} series pixels", flush=True)
        else:
            wait("usage charts: 'not available' shown (no usage routes on this server)",
                 lambda: drv.find_elements(By.CSS_SELECTOR, '#detail [data-na="1"]'))

        if policy:
            first = drv.find_element(By.CSS_SELECTOR, "#detail [data-expiry]").get_attribute("data-expiry")
            drv.find_element(By.ID, "expiry-input").send_keys("30d")
            click(drv, "#expiry-set")
            wait("Set expiry: the list shows the new expiry (in 30 d)",
                 lambda: text_of(drv, f'tr[data-instance="{NAME}"] .expires') == "in 30 d")
            check("  ... and the detail's expiry date changed",
                  drv.find_element(By.CSS_SELECTOR, "#detail [data-expiry]").get_attribute("data-expiry") != first)

        # snapshot
        click(drv, f'tr[data-instance="{NAME}"] button[data-action="snapshot"]')
        wait("Snapshot: the detail card lists 1 snapshot",
             lambda: drv.find_elements(By.CSS_SELECTOR, '#detail [data-snapshots="1"]'))

        # advice
        if usage:
            btn = wait("advice for the instance is shown with Apply (over-provisioned CPU)",
                       lambda: drv.find_elements(By.CSS_SELECTOR, '#detail [data-key="limits.cpu"]')
                       and drv.find_elements(By.ID, "apply-advice"), deadline=120)
            if btn:
                rec = drv.find_element(By.CSS_SELECTOR, '#detail [data-key="limits.cpu"]') \
                         .get_attribute("data-recommended")
                check(f"  ... recommending fewer CPUs than 2 ({rec})", rec.isdigit() and int(rec) < 2)
                btn[0].click()
                wait("Apply advice reports success",
                     lambda: "Applied the advice" in (text_of(drv, "#toast") or ""))
                wait(f"  ... and the instance's limits.cpu is now {rec}",
                     lambda: text_of(drv, "#detail-cpu") == rec)
        else:
            click(drv, "#tab-advice")
            wait("advice and sprawl: 'not available' shown (no usage/policy routes)",
                 lambda: len(drv.find_elements(By.CSS_SELECTOR, '#advice [data-na="1"]')) == 1
                 and (policy or drv.find_elements(By.CSS_SELECTOR, '#sprawl [data-na="1"]')))
            click(drv, "#tab-audit")
            if not policy:
                wait("audit: 'not available' shown (no policy routes)",
                     lambda: drv.find_elements(By.CSS_SELECTOR, '#audit [data-na="1"]'))
            click(drv, "#tab-overview")

        if policy:
            click(drv, "#tab-advice")
            wait("sprawl: a table or 'no sprawl' (policy routes)",
                 lambda: (lambda t: t and "Not available" not in t and "Loading" not in t)(text_of(drv, "#sprawl")))
            drv.save_screenshot(f"{WORK}/advice.png")
            click(drv, "#tab-audit")
            wait("audit: the UI's launch is recorded, by ui:token",
                 lambda: any("POST /1.0/instances" in r.text and "ui:token" in r.text
                             for r in drv.find_elements(By.CSS_SELECTOR, "tr.audit-row")))
            click(drv, "#verify-btn")
            wait("audit: Verify chain says intact", lambda: text_of(drv, "#verify") == "chain intact")
            drv.save_screenshot(f"{WORK}/audit.png")
            click(drv, "#tab-overview")
            click(drv, f'tr[data-instance="{NAME}"] td')

        # stop
        wait(f"{NAME} still Running", lambda: row_state(drv) == "Running")
        click(drv, f'tr[data-instance="{NAME}"] button[data-action="stop"]')
        wait(f"{NAME} is listed Stopped after Stop", lambda: row_state(drv) == "Stopped")
        click(drv, f'tr[data-instance="{NAME}"] button[data-action="start"]')
        wait(f"{NAME} is listed Running after Start", lambda: row_state(drv) == "Running")
        click(drv, f'tr[data-instance="{NAME}"] button[data-action="stop"]')
        wait(f"{NAME} is Stopped again", lambda: row_state(drv) == "Stopped")

        # a second instance, deleted through the page (confirm dialog)
        drv.find_element(By.ID, "launch-cpu").clear()
        drv.find_element(By.ID, "launch-memory").clear()
        if policy:
            drv.find_element(By.ID, "launch-expires").clear()
        name = drv.find_element(By.ID, "launch-name")
        name.clear()
        name.send_keys("web2")
        click(drv, "#launch-btn")
        wait("web2 is listed Running after Launch",
             lambda: text_of(drv, 'tr[data-instance="web2"] .state') == "Running")
        check("  ... no Delete while it runs",
              not drv.find_elements(By.CSS_SELECTOR, 'tr[data-instance="web2"] button[data-action="delete"]'))
        click(drv, 'tr[data-instance="web2"] button[data-action="stop"]')
        btn = wait("web2 Stopped: a Delete button",
                   lambda: drv.find_elements(By.CSS_SELECTOR, 'tr[data-instance="web2"] button[data-action="delete"]'))
        if btn:
            btn[0].click()
            drv.switch_to.alert.dismiss()
            check("  ... dismissing the confirmation keeps web2",
                  bool(drv.find_elements(By.CSS_SELECTOR, 'tr[data-instance="web2"]')))
            click(drv, 'tr[data-instance="web2"] button[data-action="delete"]')
            drv.switch_to.alert.accept()
            wait("  ... accepting it deletes web2 (gone from the list)",
                 lambda: not drv.find_elements(By.CSS_SELECTOR, 'tr[data-instance="web2"]'))
        if policy:
            click(drv, "#tab-advice")
            click(drv, "#prune-dry")
            wait("sprawl: Prune (dry run) shows its plan", lambda: drv.find_elements(By.ID, "prune-plan"))
            click(drv, "#tab-overview")

        errors = [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"
                  and "404" not in e.get("message", "")]
        check("no JavaScript errors in the console", not errors, json.dumps(errors)[:500])

        # the page against an older vesseld: the usage and policy routes
        # answer the router's 404 (simulated in the page's fetch, before its
        # scripts run), the panels say "not available", the rest works
        drv.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": OLD_SERVER_JS})
        drv.get(URL + "/ui/?older-server")  # a new document (the tab keeps its token)
        check("older server: the simulation is in place",
              drv.execute_script("return fetch('/1.0/sprawl').then(r => r.status)") == 404)
        wait("older server: the instance list still works (web1 Stopped)", lambda: row_state(drv) == "Stopped")
        click(drv, f'tr[data-instance="{NAME}"] td')
        wait("older server: usage charts 'not available'",
             lambda: drv.find_elements(By.CSS_SELECTOR, '#detail [data-na="1"]'))
        check("  ... no expiry field at launch", not drv.find_elements(By.ID, "launch-expires"))
        click(drv, "#tab-advice")
        wait("older server: advice and sprawl 'not available'",
             lambda: len(drv.find_elements(By.CSS_SELECTOR, '#advice [data-na="1"], #sprawl [data-na="1"]')) == 2)
        click(drv, "#tab-audit")
        wait("older server: audit 'not available'",
             lambda: drv.find_elements(By.CSS_SELECTOR, '#audit [data-na="1"]'))
        drv.save_screenshot(f"{WORK}/older-server.png")
    finally:
        try:
            drv.save_screenshot(f"{WORK}/overview.png")
        except WebDriverException:
            pass
        drv.quit()
    print(f"{passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
