# One image for both processes: `bun run api` or `bun run worker` (see docker-compose.yml).
FROM oven/bun:1.4.5-slim
WORKDIR /app
# The postgres.js patch is applied by `bun install`, so patches/ must be in place before it runs.
COPY package.json bun.lock bunfig.toml tsconfig.json drizzle.config.ts ./
COPY patches ./patches
RUN bun install --frozen-lockfile --production
COPY src ./src
COPY drizzle ./drizzle
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 WORKER_METRICS_PORT=9464
# 3000: the API (web page, /metrics, /health); 9464: a worker's own /metrics.
EXPOSE 3000 9464
USER bun
CMD ["bun", "run", "api"]
