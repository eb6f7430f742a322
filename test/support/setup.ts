// Preloaded before every test file (bunfig.toml): integration tests start servers and workers on a
// 2-core machine, which can take longer than Bun's default of 5 seconds per test or hook.
import { setDefaultTimeout } from "bun:test";

setDefaultTimeout(60_000);
