// Script of the web page: keeps the admin token, uploads a file and creates a job, lists jobs with
// live progress, and shows and downloads a complete job's results. Every request goes to this
// page's own origin with the token as a Bearer header.

const tokenStorageKey = "location-batch.admin-token";
const jobsPerPage = 20;
const resultsPerPage = 500;
// Over HTTP/1.1, Chrome and Firefox open at most 6 connections to one host, shared by all its tabs
// (MDN, EventSource). Each progress stream keeps one open while its job runs, so this limit leaves two
// for other requests. Running jobs beyond it are polled.
const maxProgressStreams = 4;
const pollIntervalMs = 5000;
const objectUrlLifetimeMs = 60_000;

const byId = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

function savedToken() {
  return sessionStorage.getItem(tokenStorageKey) ?? "";
}

/** Sends a request with the admin token to this page's origin. Throws ApiError with the API's `error` text. */
async function api(path, init = {}) {
  const url = new URL(path, location.origin);
  if (url.origin !== location.origin) throw new Error(`the token is only sent to ${location.origin}, not to ${url.origin}`);
  const token = savedToken();
  if (token === "") throw new ApiError(0, "No admin token: paste one above and press Use token.");

  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${token}`);
  let response;
  try {
    response = await fetch(url, { ...init, headers });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, `The server could not be reached (${error.message}). Check that the API is running.`);
  }
  if (!response.ok) throw new ApiError(response.status, await errorText(response));
  return response;
}

async function errorText(response) {
  try {
    const body = await response.json();
    if (typeof body?.error === "string") return body.error;
  } catch {
    // Not a JSON error body (a proxy's error page, for example), so the status line is the only reason.
  }
  return `request failed with HTTP ${response.status} ${response.statusText}`.trim();
}

function showMessage(text) {
  const message = byId("message");
  message.textContent = text;
  message.hidden = false;
}

function clearMessage() {
  byId("message").hidden = true;
  byId("message").textContent = "";
}

function showError(error) {
  if (error.name === "AbortError") return;
  if (!(error instanceof ApiError)) {
    console.error(error);
    showMessage(`Unexpected error in the page: ${error.message}`);
    return;
  }
  const reason = error.message.replace(/\.$/, "");
  if (error.status === 401 || error.status === 403) {
    // Jobs and results read with an earlier token are not left on screen as if this one could see them.
    closeResults();
    clearJobs("Paste a valid admin token to list jobs.");
  }
  if (error.status === 401) showMessage(`The API rejected the token (401): ${reason}. Paste a valid admin token.`);
  else if (error.status === 403) showMessage(`The token is not an admin token (403): ${reason}.`);
  else showMessage(error.message);
}

/** Runs an event handler's work and shows any error it throws. */
function run(action) {
  return action().catch(showError);
}

const formatCount = (count) => (count === null || count === undefined ? "?" : count.toLocaleString());
const countOf = (count, noun) => `${formatCount(count)} ${noun}${count === 1 ? "" : "s"}`;
const isRunning = (job) => job.status === "scheduled" || job.status === "processing";

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (className) td.className = className;
  return td;
}

// ---- Jobs table ----

// The jobs table's page number and the jobs on that page, by job hash, as last read or streamed.
const jobs = { page: 1, listed: new Map() };

function createJobRow(job) {
  const row = document.createElement("tr");
  row.dataset.testid = "job-row";
  row.dataset.job = job.job_hash;

  const hash = document.createElement("code");
  hash.textContent = job.job_hash;
  const created = document.createElement("time");
  created.dateTime = job.created_at;
  created.textContent = new Date(job.created_at).toLocaleString();

  const bar = document.createElement("progress");
  bar.max = 100;
  bar.setAttribute("aria-label", `Progress of job ${job.job_hash}`);
  bar.dataset.testid = "job-progress";
  const percent = document.createElement("span");
  percent.className = "percent";
  percent.dataset.testid = "job-percent";

  const status = cell("", "status");
  status.dataset.testid = "job-status";
  const progress = cell("", "progress");
  progress.append(bar, percent);
  const done = cell("", "number");
  done.dataset.testid = "job-done";
  const failed = cell("", "number");
  failed.dataset.testid = "job-failed";
  const actions = cell("", "actions");

  row.append(cell(""), cell(""), status, progress, done, failed, actions);
  row.cells[0].append(hash);
  row.cells[1].append(created);
  fillJobRow(row, job);
  return row;
}

function fillJobRow(row, job) {
  const [, , status, progress, done, failed, actions] = row.cells;
  const percent = Math.floor(job.progress * 100);
  row.dataset.status = job.status;

  status.textContent = job.status;
  status.className = `status status-${job.status}`;
  if (job.error) {
    const reason = document.createElement("span");
    reason.className = "reason";
    reason.textContent = job.error;
    status.append(reason);
  }
  progress.querySelector("progress").value = percent;
  progress.querySelector(".percent").textContent = `${percent}%`;
  done.textContent = `${formatCount(job.completed + job.failed)} / ${formatCount(job.total_rows)}`;
  failed.textContent = formatCount(job.failed);

  if (job.status === "complete" && actions.childElementCount === 0) {
    const open = document.createElement("button");
    open.type = "button";
    open.textContent = "Open results";
    open.dataset.testid = "open-results";
    open.addEventListener("click", () => run(() => openResults(job.job_hash, 1)));
    actions.append(open);
  }
}

function updateJob(job) {
  if (!jobs.listed.has(job.job_hash)) return;
  jobs.listed.set(job.job_hash, job);
  const row = byId("jobs").querySelector(`tr[data-job="${job.job_hash}"]`);
  if (row) fillJobRow(row, job);
}

async function loadJobs() {
  const query = new URLSearchParams({ page: String(jobs.page), per_page: String(jobsPerPage) });
  const status = byId("jobs-filter").value;
  if (status) query.set("status", status);
  const body = await (await api(`/locations/batch?${query}`)).json();

  jobs.listed = new Map(body.data.map((job) => [job.job_hash, job]));
  byId("jobs").tBodies[0].replaceChildren(...body.data.map(createJobRow));
  byId("jobs-empty").textContent = status ? `No ${status} jobs.` : "No jobs yet.";
  byId("jobs-empty").hidden = body.total > 0;
  byId("jobs-page").textContent = `Page ${body.page} of ${Math.max(1, body.total_pages)} · ${countOf(body.total, "job")}`;
  byId("jobs-previous").disabled = body.page <= 1;
  byId("jobs-next").disabled = body.next === null;
  followRunningJobs();
}

function clearJobs(hint) {
  stopProgressStreams();
  jobs.listed = new Map();
  byId("jobs").tBodies[0].replaceChildren();
  byId("jobs-empty").textContent = hint;
  byId("jobs-empty").hidden = false;
  byId("jobs-page").textContent = "";
  byId("jobs-previous").disabled = true;
  byId("jobs-next").disabled = true;
}

// ---- Live progress ----

const streams = new Map(); // job hash -> AbortController of its open progress stream
const polled = new Set(); // running jobs on the page without a stream

/** Streams progress for the running jobs on the page, up to the stream limit, and polls the rest. */
function followRunningJobs() {
  for (const [hash, controller] of streams) {
    if (!jobs.listed.has(hash)) controller.abort();
  }
  polled.clear();
  for (const job of jobs.listed.values()) {
    if (isRunning(job) && !streams.has(job.job_hash)) polled.add(job.job_hash);
  }
  openProgressStreams();
}

function openProgressStreams() {
  for (const hash of polled) {
    if (streams.size >= maxProgressStreams) return;
    polled.delete(hash);
    streamProgress(hash);
  }
}

function stopProgressStreams() {
  for (const controller of streams.values()) controller.abort();
  streams.clear();
  polled.clear();
}

/**
 * Follows one job's progress stream (Server-Sent Events). EventSource cannot send an Authorization
 * header, so the stream is read with fetch. A stream that ends before the job does leaves the job
 * to the poller, which opens a new stream on its next round.
 */
async function streamProgress(hash) {
  const controller = new AbortController();
  streams.set(hash, controller);
  let ended = false;
  try {
    const response = await api(`/locations/batch/${hash}/progress`, {
      signal: controller.signal,
      headers: { accept: "text/event-stream" },
    });
    for await (const event of readServerSentEvents(response.body)) {
      if (event.type !== "progress") continue;
      const job = JSON.parse(event.data);
      updateJob(job);
      if (!isRunning(job)) {
        ended = true;
        break;
      }
    }
  } catch (error) {
    if (error instanceof ApiError) showError(error);
    else if (error.name !== "AbortError") console.warn(`progress stream of job ${hash} broke off`, error);
  } finally {
    controller.abort();
    if (streams.get(hash) === controller) streams.delete(hash);
    openProgressStreams();
    const job = jobs.listed.get(hash);
    if (!ended && job && isRunning(job)) polled.add(hash);
  }
}

/** Yields `{type, data}` for each event of a text/event-stream body. Comments and other fields are skipped. */
async function* readServerSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let type = "message";
  let data = [];
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    for (;;) {
      const end = buffer.search(/[\r\n]/);
      // A trailing CR may be the first half of a CRLF split across chunks, so parsing waits for the next chunk.
      if (end === -1 || (end === buffer.length - 1 && buffer[end] === "\r")) break;
      const line = buffer.slice(0, end);
      buffer = buffer.slice(buffer.startsWith("\r\n", end) ? end + 2 : end + 1);

      if (line === "") {
        if (data.length > 0) yield { type, data: data.join("\n") };
        type = "message";
        data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      const fieldValue = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") type = fieldValue;
      else if (field === "data") data.push(fieldValue);
    }
  }
}

let polling = false;

async function pollRunningJobs() {
  if (polling || polled.size === 0 || savedToken() === "") return;
  polling = true;
  try {
    for (const hash of [...polled]) {
      const job = await (await api(`/locations/batch/${hash}`)).json();
      updateJob(job);
      if (!isRunning(job)) polled.delete(hash);
    }
    openProgressStreams();
  } catch (error) {
    showError(error);
  } finally {
    polling = false;
  }
}

// ---- Upload ----

function contentTypeOf(fileName) {
  const name = fileName.toLowerCase();
  if (name.endsWith(".csv")) return "text/csv";
  if (name.endsWith(".json")) return "application/json";
  // The service then detects the format from the file's first non-blank character: "[" means JSON, anything else CSV.
  return "application/octet-stream";
}

async function submitFile(event) {
  event.preventDefault();
  clearMessage();
  const file = byId("file").files[0];
  if (!file) return;
  const button = byId("upload-submit");
  const status = byId("upload-status");
  button.disabled = true;
  try {
    status.textContent = `Uploading ${file.name} (${formatCount(file.size)} bytes)…`;
    const stored = await (
      await api("/files", { method: "POST", body: file, headers: { "content-type": contentTypeOf(file.name) } })
    ).json();
    status.textContent = `Stored ${file.name}; creating the job…`;
    const created = await (
      await api("/locations/batch", {
        method: "POST",
        body: JSON.stringify({ file_hash: stored.file_hash }),
        headers: { "content-type": "application/json" },
      })
    ).json();
    status.textContent = `Job ${created.job_hash} created for ${file.name}.`;
    byId("upload-form").reset();
    jobs.page = 1;
    await loadJobs();
  } catch (error) {
    status.textContent = `${file.name} was not submitted.`;
    throw error;
  } finally {
    button.disabled = false;
  }
}

// ---- Results ----

const results = { job: null, page: 1 };

function resultRow(entry) {
  const row = document.createElement("tr");
  const place = entry.location;
  row.append(
    cell(String(entry.row), "number"),
    cell(entry.value),
    cell(entry.status, `status status-${entry.status}`),
    cell(place?.name),
    cell(place?.country_code),
    cell(place ? String(place.latitude) : "", "number"),
    cell(place ? String(place.longitude) : "", "number"),
    cell(entry.match_level),
    cell(entry.error),
  );
  return row;
}

async function openResults(hash, page) {
  clearMessage();
  const query = new URLSearchParams({ page: String(page), per_page: String(resultsPerPage) });
  const body = await (await api(`/locations/batch/${hash}/results?${query}`)).json();
  const opening = results.job !== hash;
  results.job = hash;
  results.page = body.page;

  byId("results-job").textContent = hash;
  byId("results").tBodies[0].replaceChildren(...body.data.map(resultRow));
  byId("results-page").textContent = `Page ${body.page} of ${Math.max(1, body.total_pages)} · ${countOf(body.total, "row")}`;
  byId("results-previous").disabled = body.page <= 1;
  byId("results-next").disabled = body.next === null;
  const section = byId("results-section");
  section.hidden = false;
  if (opening) {
    byId("results-heading").focus();
    section.scrollIntoView({ block: "start" });
  }
}

function closeResults() {
  results.job = null;
  byId("results-section").hidden = true;
  byId("results").tBodies[0].replaceChildren();
}

function downloadName(response, fallback) {
  const match = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") ?? "");
  return match ? match[1] : fallback;
}

/**
 * Downloads a job's results with the token and saves them through an object URL, because a plain
 * link cannot carry the Authorization header.
 */
async function downloadResults(format, button) {
  const hash = results.job;
  if (!hash) return;
  clearMessage();
  button.disabled = true;
  try {
    // NOTE: the browser keeps the whole file in memory as a Blob before saving it, so a job of
    // millions of rows needs hundreds of megabytes here. The command line streams to disk instead.
    const response = await api(`/locations/batch/${hash}/results.${format}`);
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = downloadName(response, `${hash}.results.${format}`);
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), objectUrlLifetimeMs);
  } finally {
    button.disabled = false;
  }
}

// ---- Token and start-up ----

function useToken(event) {
  event.preventDefault();
  clearMessage();
  const token = byId("token").value.trim().replace(/^bearer\s+/i, "");
  if (token === "") return;
  sessionStorage.setItem(tokenStorageKey, token);
  stopProgressStreams();
  closeResults();
  jobs.page = 1;
  run(loadJobs);
}

function forgetToken() {
  sessionStorage.removeItem(tokenStorageKey);
  byId("token").value = "";
  clearMessage();
  closeResults();
  clearJobs("Paste an admin token to list jobs.");
}

function changeJobsPage(step) {
  clearMessage();
  jobs.page = Math.max(1, jobs.page + step);
  run(loadJobs);
}

function start() {
  byId("token-form").addEventListener("submit", useToken);
  byId("token-forget").addEventListener("click", forgetToken);
  byId("upload-form").addEventListener("submit", (event) => run(() => submitFile(event)));
  byId("jobs-refresh").addEventListener("click", () => changeJobsPage(0));
  byId("jobs-previous").addEventListener("click", () => changeJobsPage(-1));
  byId("jobs-next").addEventListener("click", () => changeJobsPage(1));
  byId("jobs-filter").addEventListener("change", () => {
    jobs.page = 1;
    changeJobsPage(0);
  });
  byId("results-previous").addEventListener("click", () => run(() => openResults(results.job, results.page - 1)));
  byId("results-next").addEventListener("click", () => run(() => openResults(results.job, results.page + 1)));
  byId("results-close").addEventListener("click", closeResults);
  for (const format of ["csv", "ndjson"]) {
    const button = byId(`download-${format}`);
    button.addEventListener("click", () => run(() => downloadResults(format, button)));
  }
  setInterval(pollRunningJobs, pollIntervalMs);

  const token = savedToken();
  if (token === "") {
    clearJobs("Paste an admin token to list jobs.");
    return;
  }
  byId("token").value = token;
  run(loadJobs);
}

start();
