// Tests the web page in a real headless Chromium against the real HTTP server and an in-process worker.
// It covers the token, upload, live progress, results pages, the CSV download and the API's 401 message.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import type { createApp } from "../src/api/app.ts";
import type { RunningWorker } from "../src/worker/worker.ts";
import { createHarness, type Harness } from "./support/harness.ts";
import { listenTestApp, startTestWorker } from "./support/jobs.ts";
import { adminToken, signToken } from "./support/tokens.ts";

const chromiumPath = "/usr/bin/chromium";
const screenshotPath = join(import.meta.dir, "output", "web-page.png");
const stepTimeoutMs = 30_000;
const jobTimeoutMs = 60_000;

// The background-networking flags stop Chromium from calling Google services at start. Without them, on
// a network without internet access, many of those connections are refused at once.
const chromiumArgs = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const places = [
  "Paris, France",
  "Berlin",
  "Tokyo",
  "London, GB",
  '"Springfield, IL"',
  "51.5074,-0.1278",
  "Madrid",
  "Rome, Italy",
  "Qwxzzyq Nowhere",
  "Cairo",
  "Sydney, Australia",
  "Toronto",
];
const csv = `${places.join("\n")}\n`;

let harness: Harness;
let worker: RunningWorker;
let app: ReturnType<typeof createApp>;
let baseUrl: string;
let userDataDir: string;
let context: BrowserContext;
let token: string;

beforeAll(async () => {
  if (!existsSync(chromiumPath)) {
    throw new Error(`Chromium not found at ${chromiumPath}: install it with apt-get install chromium`);
  }
  harness = await createHarness();
  worker = await startTestWorker(harness);
  ({ app, baseUrl } = listenTestApp(harness));
  token = await adminToken();

  userDataDir = await mkdtemp(join(tmpdir(), "web-test-chromium-"));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    acceptDownloads: true,
    viewport: { width: 1280, height: 900 },
    timeout: stepTimeoutMs,
  });
  context.setDefaultTimeout(stepTimeoutMs);
});

afterAll(async () => {
  await context?.close();
  await app?.stop(true);
  await worker?.stop();
  await harness?.cleanup();
  if (userDataDir) await rm(userDataDir, { recursive: true, force: true });
});

interface SeenRequest {
  url: string;
  authorization: string | undefined;
  status?: number;
  contentType?: string;
}

/** Opens the page in a new tab, recording every request it makes and the status of each response. */
async function openPage(): Promise<{ page: Page; requests: SeenRequest[] }> {
  const page = await context.newPage();
  const requests: SeenRequest[] = [];
  const seen = new Map<object, SeenRequest>();
  page.on("request", (request) => {
    const entry = { url: request.url(), authorization: request.headers().authorization };
    seen.set(request, entry);
    requests.push(entry);
  });
  page.on("response", (response) => {
    const entry = seen.get(response.request());
    if (!entry) return;
    entry.status = response.status();
    entry.contentType = response.headers()["content-type"];
  });
  const response = await page.goto(`${baseUrl}/`);
  expect(response?.status()).toBe(200);
  return { page, requests };
}

async function useToken(page: Page, value: string): Promise<void> {
  await page.fill("#token", value);
  await page.click("#token-use");
}

async function cellTexts(page: Page, row: number): Promise<string[]> {
  return page.locator("#results tbody tr").nth(row).locator("td").allTextContents();
}

describe("web page", () => {
  test("static files have their content types", async () => {
    for (const [path, type] of [
      ["/", "text/html"],
      ["/app.js", "text/javascript"],
      ["/app.css", "text/css"],
    ] as const) {
      const response = await fetch(`${baseUrl}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toStartWith(type);
      expect(response.headers.get("cache-control")).toBe("no-cache");
    }
  });

  test("favicon is empty, not 401", async () => {
    const response = await fetch(`${baseUrl}/favicon.ico`);
    expect(response.status).toBe(204);
  });

  test("CSV job runs from upload to download", async () => {
    const { page, requests } = await openPage();
    await useToken(page, token);
    await page.locator("#jobs-page").filter({ hasText: "Page 1 of 1" }).waitFor();

    await page.reload();
    expect(await page.inputValue("#token")).toBe(token);

    await page.setInputFiles("#file", { name: "places.csv", mimeType: "text/csv", buffer: Buffer.from(csv) });
    await page.click("#upload-submit");
    const status = page.getByTestId("upload-status");
    await status.filter({ hasText: "created for places.csv" }).waitFor();
    const jobHash = /Job ([0-9a-f]{24})/.exec((await status.textContent()) ?? "")?.[1];
    expect(jobHash).toBeDefined();

    const row = page.locator(`tr[data-job="${jobHash}"]`);
    await page.locator(`tr[data-job="${jobHash}"][data-status="complete"]`).waitFor({ timeout: jobTimeoutMs });
    expect(await row.getByTestId("job-status").textContent()).toBe("complete");
    expect(await row.getByTestId("job-progress").getAttribute("value")).toBe("100");
    expect(await row.getByTestId("job-percent").textContent()).toBe("100%");
    expect(await row.getByTestId("job-done").textContent()).toBe("12 / 12");
    expect(await row.getByTestId("job-failed").textContent()).toBe("1");

    await row.getByTestId("open-results").click();
    await page.locator("#results tbody tr").nth(11).waitFor();
    expect(await page.locator("#results tbody tr").count()).toBe(12);
    expect(await page.textContent("#results-page")).toBe("Page 1 of 1 · 12 rows");
    const paris = await cellTexts(page, 0);
    expect(paris.slice(0, 5)).toEqual(["1", "Paris, France", "ok", "Paris", "FR"]);
    expect(paris[7]).toBe("place");
    const springfield = await cellTexts(page, 4);
    expect(springfield.slice(1, 5)).toEqual(["Springfield, IL", "ok", "Springfield", "US"]);
    const unresolved = await cellTexts(page, 8);
    expect(unresolved[1]).toBe("Qwxzzyq Nowhere");
    expect(unresolved[2]).toBe("failed");
    expect(unresolved[3]).toBe("");
    expect(unresolved[8]).toBe("no match");

    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download-csv")]);
    expect(download.suggestedFilename()).toBe(`${jobHash}.results.csv`);
    const lines = (await readFile(await download.path(), "utf8")).trimEnd().split(/\r?\n/);
    expect(lines[0]).toBe("row,value,status,name,country_code,latitude,longitude,location_hash,match_level,error");
    expect(lines).toHaveLength(13);
    expect(lines[1]).toStartWith('1,"Paris, France",ok,Paris,FR,');
    expect(lines[9]).toStartWith("9,Qwxzzyq Nowhere,failed,");
    expect(lines[9]).toEndWith(",no match");

    const progressRequest = requests.find((request) => request.url === `${baseUrl}/locations/batch/${jobHash}/progress`);
    expect(progressRequest?.authorization).toBe(`Bearer ${token}`);
    expect(progressRequest?.status).toBe(200);
    expect(progressRequest?.contentType).toStartWith("text/event-stream");
    expect(await page.isHidden("#message")).toBe(true);
    const otherOrigins = requests.filter((request) => !request.url.startsWith(`${baseUrl}/`) && !request.url.startsWith("blob:"));
    expect(otherOrigins).toEqual([]);

    await mkdir(join(import.meta.dir, "output"), { recursive: true });
    await page.screenshot({ path: screenshotPath, fullPage: true });
    await page.close();
  }, 120_000);

  test("wrong token shows the API's 401 message", async () => {
    const { page } = await openPage();
    const wrongSecret = new TextEncoder().encode("a-different-secret-that-is-long-enough");
    await useToken(page, await signToken({ role: "admin" }, { secret: wrongSecret }));
    const message = page.getByRole("alert");
    await message.filter({ hasText: "401" }).waitFor();
    expect(await message.textContent()).toBe(
      "The API rejected the token (401): token is invalid or expired: its signature, exp or nbf did not check out. Paste a valid admin token.",
    );
    expect(await page.locator("#jobs tbody tr").count()).toBe(0);
    await page.close();
  });
});
