// walkthrough.js BASE_URL SHOT_DIR - the owner's first session in a real browser
// (playwright-core driving Debian's chromium): first-run setup, GitHub token and import,
// a fix run kicked off from the workbench, its log followed live, approval with a
// rationale, the PR link; a screenshot of every page into SHOT_DIR. Prints PASS:/FAIL:
// lines like the shell tests; exits 1 when a step failed. The defaults fit the fake stack
// (tests/e2e/web_fake.py); WT_* variables fit it to the real one (tests/e2e/web_loop.sh):
// WT_PASSWORD, WT_TOKEN, WT_REPOS (newline separated), WT_ISSUE (row text), WT_LOG (a
// line the live log must show), WT_PR (text of the PR link), WT_WAIT_MS.
"use strict";
const { chromium } = require("playwright-core");
const path = require("path");

const base = process.argv[2];
const shots = process.argv[3];
let fails = 0;
const env = (k, d) => (process.env[k] !== undefined ? process.env[k] : d);
const wt = {
  password: env("WT_PASSWORD", "walkthrough-password-1"),
  token: env("WT_TOKEN", "ghp_walkthrough0000000000000000000000"),
  repos: env("WT_REPOS", "acme/widgets\nacme/gadgets"),
  issue: env("WT_ISSUE", "Crash on <empty> input"),
  log: env("WT_LOG", "working <line> 5"),
  pr: env("WT_PR", "pull/99"),
  wait: Number(env("WT_WAIT_MS", "15000")),
};
const pass = (m) => console.log("PASS: browser: " + m);
const fail = (m) => { console.log("FAIL: browser: " + m); fails++; };

async function step(name, fn) {
  try { await fn(); pass(name); } catch (e) { fail(name + " (" + String(e.message || e).split("\n")[0] + ")"); throw e; }
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));
  const shot = (name) => page.screenshot({ path: path.join(shots, name + ".png"), fullPage: true });
  try {
    await step("first visit goes to /setup", async () => {
      await page.goto(base + "/");
      if (!page.url().endsWith("/setup")) throw new Error("at " + page.url());
      await shot("01-setup-password");
    });
    await step("set the owner password", async () => {
      await page.fill("#pw", wt.password);
      await page.fill("#pw2", wt.password);
      await Promise.all([page.waitForNavigation(), page.click("text=Set the password")]);
      await page.waitForSelector("text=The owner password is set");
    });
    await step("connect GitHub: token stored, repositories listed", async () => {
      await page.fill("#ght", wt.token);
      await Promise.all([page.waitForNavigation(), page.click("text=Store and check")]);
      await page.waitForSelector("text=GitHub is connected");
      if ((await page.content()).includes(wt.token)) throw new Error("token echoed");
      await shot("02-setup-github");
    });
    await step("import a repository and finish setup", async () => {
      await page.fill("textarea[name=repos] >> nth=0", wt.repos);
      await Promise.all([page.waitForNavigation(), page.click("text=Import these and finish")]);
      if (!page.url().endsWith("/dashboard")) throw new Error("at " + page.url());
      await shot("03-dashboard");
    });
    await step("workbench lists issues with escaped titles", async () => {
      // the webhook may land after the first look: reload as the owner would
      const until = Date.now() + wt.wait;
      for (;;) {
        await page.goto(base + "/workbench");
        if (await page.locator("text=" + wt.issue).count()) break;
        if (Date.now() > until) throw new Error("no row for " + wt.issue);
        await page.waitForTimeout(500);
      }
      await shot("04-workbench");
    });
    let runUrl;
    await step("kick off a fix run from the workbench", async () => {
      const row = page.locator("tr", { hasText: wt.issue });
      await Promise.all([page.waitForNavigation(), row.locator("button", { hasText: "Fix" }).click()]);
      const link = page.locator(".notice a");
      runUrl = base + (await link.getAttribute("href"));
      await shot("05-kickoff");
      await Promise.all([page.waitForNavigation(), link.click()]);
    });
    await step("the run's log arrives live", async () => {
      await page.waitForFunction((t) => document.getElementById("log").textContent.includes(t),
        wt.log, { timeout: wt.wait });
      await page.waitForFunction(() => document.getElementById("run-state").textContent === "awaiting_approval",
        null, { timeout: wt.wait });
      await shot("06-run-live");
    });
    await step("approve with a rationale and see the PR link", async () => {
      await page.goto(runUrl);
      await page.fill("#rationale", "Small, tested fix; looks right.");
      await Promise.all([page.waitForNavigation(), page.click("button[value=approve]")]);
      await page.waitForSelector(".state.completed", { timeout: wt.wait });
      if (!(await page.locator("text=" + wt.pr).count())) await page.reload(); // shipped after the redirect
      await page.waitForSelector("text=" + wt.pr, { timeout: wt.wait });
      await shot("07-run-approved");
    });
    for (const [i, p] of ["/projects", "/projects/1", "/agents", "/settings/security", "/settings/api"].entries()) {
      await step("page " + p + " renders", async () => {
        const resp = await page.goto(base + p);
        if (resp.status() !== 200) throw new Error("status " + resp.status());
        await shot(String(8 + i).padStart(2, "0") + p.replace(/\//g, "-"));
      });
    }
    await step("no script errors and no CSP violations in the console", async () => {
      if (errors.length) throw new Error(errors.join(" | "));
    });
  } catch (e) {
    await shot("zz-failure").catch(() => {});
  }
  await browser.close();
  process.exit(fails ? 1 : 0);
})().catch((e) => { console.log("FAIL: browser: " + e); process.exit(1); });
