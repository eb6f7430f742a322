# One image for both processes: `bun run api` or `bun run worker` (see docker-compose.yml).
FROM oven/bun:1.4.5-slim
WORKDIR /app
COPY package.json bun.lock bunfig.toml tsconfig.json drizzle.config.ts ./
RUN bun install --frozen-lockfile --production
COPY src ./src
COPY drizzle ./drizzle
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
EXPOSE 3000
CMD ["bun", "run", "api"]
