"""The console's web UI in a real browser (headless Chromium driven by
Selenium) against the running stack, in one browser session: log in,
search an email and see its timeline, open an event, replay a DLQ entry and
watch it reach the HubSpot emulator, add a source and post to its new URL,
rotate it and see both tokens work, a viewer denied a replay, a CSRF-less
POST refused, the phone layout. Screenshots of each page go to
<build>/console-screenshots/ for review."""
import json
import os
import shutil
import sys

from harness import (ALL_EVENTS, BUILD, DEMO_TOKEN, HUBSPOT_TOKEN, Checks,
                     Stack, http_request, load_payloads)
from harness import wait_for as harness_wait_for
from conlib import (Api, accounts, console_config, start_console,
                    wait_event, with_lead)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
except ImportError:
    print("skip: python3-selenium is not installed")
    sys.exit(77)
if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
    print("skip: chromium or chromedriver missing")
    sys.exit(77)

c = Checks("console_browser")
SHOTS = os.path.join(BUILD, "console-screenshots")
os.makedirs(SHOTS, exist_ok=True)


def wait_for(cond, *args, **kwargs):
    """harness.wait_for, where an element the page re-rendered while it was
    being read (StaleElementReferenceException) counts as "not yet"."""
    from selenium.common.exceptions import StaleElementReferenceException

    def settled():
        try:
            return cond()
        except StaleElementReferenceException:
            return None
    return harness_wait_for(settled, *args, **kwargs)


def post(url, body):
    base, path = url.split("/v1/", 1)
    return http_request(base, "POST", "/v1/" + path, body,
                        {"Content-Type": "application/json"})[0]


with Stack() as st:
    st.broker()
    st.emulator()
    ingress = st.ingress(st.config())
    users = accounts()
    cfg = st.config(mutate=console_config(users, ingress))
    st.worker(cfg, "all", ALL_EVENTS)
    con = start_console(st, cfg)
    api = Api(con.url)
    api.login("ops", users["ops"][1])
    p = load_payloads()
    hook = f"{ingress}/v1/webhooks/smartlead/{DEMO_TOKEN}"

    jane = "jane.browser@acme-example.com"
    for name in ("EMAIL_SENT", "EMAIL_OPEN", "EMAIL_REPLY"):
        s, _, b = http_request(ingress, "POST", "/v1/webhooks/smartlead/" + DEMO_TOKEN,
                               with_lead(p[name], jane),
                               {"Content-Type": "application/json"})
        c.eq(s, 200, f"{name} posted")
        wait_event(api, json.loads(b)["event_id"], "synced")
    # Two events for the DLQ: HubSpot refuses the token for a moment.
    st.hubspot_faults({"revoke_tokens": [HUBSPOT_TOKEN]})
    parked_ids = {}
    for lead in ("bob.browser@acme-example.com", "carol.browser@acme-example.com"):
        s, _, b = http_request(ingress, "POST", "/v1/webhooks/smartlead/" + DEMO_TOKEN,
                               with_lead(p["EMAIL_REPLY"], lead),
                               {"Content-Type": "application/json"})
        parked_ids[lead] = json.loads(b)["event_id"]
    for eid in parked_ids.values():
        wait_event(api, eid, "dlq")
    wait_for(lambda: len(api.get("/api/v1/dlq")[2]["records"]) >= 2, 30, 0.2,
             "two DLQ records in the read model")
    st.hubspot_faults({"revoke_tokens": []})

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--window-size=1280,900",
              f"--user-data-dir={st.path('chrome-profile')}"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(DRIVER, log_output=st.path("chromedriver.log")),
                           options=opts)
    drv.set_page_load_timeout(30)

    def shot(name):
        drv.save_screenshot(os.path.join(SHOTS, name + ".png"))

    def by_id(i):
        return drv.find_element(By.ID, i)

    def click_in_row(rows_css, match, inner_css, what):
        """Clicks inside the first row that matches; again if the table was
        re-rendered between finding the row and the click. Returns its text."""
        def attempt():
            for r in drv.find_elements(By.CSS_SELECTOR, rows_css):
                if match(r):
                    text = r.text
                    r.find_element(By.CSS_SELECTOR, inner_css).click()
                    return text or " "
            return None
        return wait_for(attempt, 20, 0.2, what)

    def visible(i):
        return wait_for(lambda: by_id(i).is_displayed() and by_id(i), 15, 0.1,
                        f"#{i} visible")

    def text_of(i, want, timeout=20):
        return wait_for(lambda: want in by_id(i).text and by_id(i).text,
                        timeout, 0.2, f"#{i} to say {want!r}")

    def js_fetch(method, path, body, csrf=True):
        return drv.execute_async_script(
            """const [m, p, b, csrf, done] = arguments;
            const h = {"Content-Type": "application/json"};
            if (csrf) h["X-CSRF-Token"] = csrf;
            fetch(p, {method: m, headers: h, body: JSON.stringify(b),
                      credentials: "same-origin"})
              .then(async (r) => done([r.status, await r.json()]))
              .catch((e) => done([0, String(e)]));""",
            method, path, body, csrf)

    def login(user):
        drv.get(con.url + "/")
        visible("login-user").clear()
        by_id("login-user").send_keys(user)
        by_id("login-password").send_keys(users[user][1])
        by_id("login-submit").click()
        visible("search-email")

    try:
        drv.set_script_timeout(30)
        # -- log in --------------------------------------------------------
        drv.get(con.url + "/")
        visible("login-user")
        shot("01-login")
        by_id("login-user").send_keys("ops")
        by_id("login-password").send_keys("wrong-password")
        by_id("login-submit").click()
        text_of("login-error", "wrong user or password")
        c.true(True, "a wrong password is refused in the page")
        login("ops")
        c.true("ops (operator)" in by_id("whoami").text, "logged in as operator")

        # -- search an email, see its timeline ------------------------------
        def timeline_synced():
            box = by_id("search-email")
            box.clear()
            box.send_keys(jane, Keys.ENTER)  # the keyboard submits the form
            items = drv.find_elements(By.CSS_SELECTOR, "#timeline li.ev")
            return len(items) == 3 and "synced" in by_id("timeline").text and items
        items = wait_for(timeline_synced, 60, 0.5, "jane's timeline, synced")
        c.eq(len(items), 3, "the timeline lists jane's three events")
        c.true("EMAIL_REPLY" in by_id("timeline").text, "the reply is on it")
        shot("02-search-timeline")

        # -- open an event --------------------------------------------------
        link = drv.find_element(By.XPATH, "//a[@class='ev-link' and text()='EMAIL_REPLY']")
        link.click()
        text_of("ev-steps", "synced")
        c.true("received" in by_id("ev-steps").text, "the story starts at received")
        c.true("smartlead.email_reply" in by_id("ev-facts").text,
               "the event names its topic and offset")
        hs_links = drv.find_elements(By.CSS_SELECTOR, "#ev-links a")
        c.true(any("/contacts/1000001/record/0-1/" in a.get_attribute("href")
                   for a in hs_links), "a link into the HubSpot portal")
        shot("03-event")

        # -- DLQ: select and replay ----------------------------------------
        drv.get(con.url + "/#/dlq")
        bob_id = parked_ids["bob.browser@acme-example.com"]
        row_text = click_in_row("#parked-table tbody tr",
                                lambda b: "bob.browser" in b.text,
                                "input.select-row", "bob's DLQ row")
        c.true("auth" in row_text, "the DLQ row shows the reason")
        text_of("replay-count", "1 selected")
        by_id("replay-dry").click()
        text_of("replay-result", "Dry run: 1 of 1 would be replayed")
        by_id("replay-go").click()
        text_of("replay-result", "needs one")  # no reason given yet
        by_id("replay-reason").send_keys("HubSpot token restored")
        shot("04-dlq")
        by_id("replay-go").click()
        text_of("replay-result", "Replayed 1 of 1")

        def in_hubspot():
            s = st.hubspot_state()
            return "bob.browser@acme-example.com" in json.dumps(s)
        wait_for(in_hubspot, 60, 0.5, "bob's reply in the HubSpot emulator")
        c.true(True, "the replayed DLQ entry reached the HubSpot emulator")
        wait_event(api, bob_id, "synced")

        # -- sources: add, post, rotate -------------------------------------
        drv.get(con.url + "/#/sources")
        wait_for(lambda: "demo-user" in by_id("sources-table").text, 20, 0.2,
                 "the sources table")
        c.true("EMAIL_REPLY" in by_id("sources-table").text,
               "24 h counts per type")
        silent = drv.find_elements(By.CSS_SELECTOR, "tr.silent")
        c.true(any("demo-filtered-user" in r.text for r in silent),
               "a silent source stands out")
        by_id("src-id").send_keys("browser-src")
        by_id("src-add").click()
        visible("source-url")
        url1 = wait_for(lambda: by_id("source-url").get_attribute("value"), 10,
                        0.1, "the new URL")
        c.true(url1.startswith(ingress + "/v1/webhooks/smartlead/"),
               "the new source's URL is shown once", url1)
        shot("05-source-added")
        by_id("source-secret-done").click()
        c.eq(by_id("source-url").get_attribute("value"), "",
             "the URL is gone from the page once dismissed")
        lead = with_lead(p["EMAIL_SENT"], "new.src@acme-example.com")
        wait_for(lambda: post(url1, lead) == 200, 20, 0.2,
                 "a post to the new URL accepted")
        c.true(True, "posted to the new source's URL")
        click_in_row("#sources-table tbody tr",
                     lambda r: r.get_attribute("data-source") == "browser-src",
                     "button.rotate", "the new source's row")
        url2 = wait_for(lambda: (by_id("source-url").get_attribute("value") or
                                 None) if by_id("source-url").get_attribute(
                                     "value") != url1 else None,
                        20, 0.2, "the rotated URL")
        c.true(url2 and url2 != url1, "rotation shows a new URL")
        wait_for(lambda: post(url2, lead) == 200, 20, 0.2, "the new token")
        c.eq(post(url1, lead), 200, "the old token still works until not_after")
        text_of("sources-table", "until")
        c.true(True, "the old token's not_after is shown")
        shot("06-sources-rotated")
        by_id("source-secret-done").click()

        # -- quotas and quarantine pages -----------------------------------
        drv.get(con.url + "/#/quotas")
        text_of("quotas-table", "demo")
        shot("07-quotas")
        drv.get(con.url + "/#/quarantine")
        visible("parked-table")
        shot("08-quarantine")

        # -- CSRF-less POST refused -----------------------------------------
        st_, body = js_fetch("POST", "/api/v1/dlq/replay",
                             {"ids": ["0:0"], "dry_run": True}, csrf=None)
        c.eq((st_, body.get("error", {}).get("code")), (403, "csrf"),
             "a POST with the session cookie but no CSRF token is refused")

        # -- a viewer is denied a replay -----------------------------------
        by_id("logout").click()
        visible("login-user")
        login("viewer")
        drv.get(con.url + "/#/dlq")
        click_in_row("#parked-table tbody tr",
                     lambda b: "carol.browser" in b.text,
                     "input.select-row", "carol's DLQ row")
        by_id("replay-reason").send_keys("trying as a viewer")
        by_id("replay-go").click()
        text_of("replay-result", "needs the operator role")
        c.true(True, "the viewer's replay is refused")
        shot("09-viewer-denied")
        c.eq(len(api.get("/api/v1/dlq")[2]["records"]), 1,
             "carol's record still waits")
        drv.get(con.url + "/#/sources")
        text_of("sources-table", "demo-user")
        c.eq(by_id("source-form").is_displayed(), False,
             "no add-source form for a viewer")

        # -- accessibility basics and the phone layout ---------------------
        unlabelled = drv.execute_script(
            """return [...document.querySelectorAll('input, select')]
              .filter(e => e.type !== 'hidden')
              .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
              .map(e => e.id || e.outerHTML);""")
        c.eq(unlabelled, [], "every input and select has a label")
        drv.set_window_size(390, 844)
        drv.get(con.url + "/#/")
        box = visible("search-email")
        box.send_keys(jane, Keys.ENTER)
        wait_for(lambda: len(drv.find_elements(By.CSS_SELECTOR, "#timeline li.ev")) == 3,
                 20, 0.2, "the timeline on a phone")
        overflow = drv.execute_script(
            "return document.documentElement.scrollWidth - window.innerWidth")
        c.true(overflow <= 0, "no sideways scrolling on a phone", overflow)
        shot("10-phone-search")
    except Exception:
        shot("zz-failure")
        print("page text at failure:\n" + drv.find_element(By.TAG_NAME, "body").text[:2000])
        raise
    finally:
        drv.quit()
    print(f"screenshots in {SHOTS}")

c.done()
