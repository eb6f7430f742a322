// Routes of the web page for admins, served as three static files. They are read once, when this
// module is loaded, so a missing file stops the API at start instead of failing the first visitor.
import { Elysia, t } from "elysia";

const webDir = `${import.meta.dir}/../../web`;

interface StaticFile {
  body: string;
  contentType: string;
}

async function readStaticFile(name: string, contentType: string): Promise<StaticFile> {
  return { body: await Bun.file(`${webDir}/${name}`).text(), contentType };
}

const page = await readStaticFile("index.html", "text/html; charset=utf-8");
const script = await readStaticFile("app.js", "text/javascript; charset=utf-8");
const styles = await readStaticFile("app.css", "text/css; charset=utf-8");

function serve(file: StaticFile) {
  return ({ set }: { set: { headers: Record<string, string | number> } }) => {
    set.headers["content-type"] = file.contentType;
    // no-cache: the browser revalidates on each load, so a deployed change shows without a hard reload.
    set.headers["cache-control"] = "no-cache";
    return file.body;
  };
}

function documented(summary: string) {
  return { response: { 200: t.String() }, detail: { tags: ["web"], summary } };
}

export function webRoutes() {
  return new Elysia()
    .get("/", serve(page), documented("The web page: submit files, watch jobs, read and download results"))
    .get("/app.js", serve(script), documented("Script of the web page"))
    .get("/app.css", serve(styles), documented("Style sheet of the web page"))
    // Browsers request it on every page load. An empty 204 response keeps a 401 out of their consoles.
    .get("/favicon.ico", ({ set }) => {
      set.status = 204;
      set.headers["cache-control"] = "max-age=86400";
    });
}
