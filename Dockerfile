# MarketPulse gateway image. The build stage compiles src/ to dist/ (`npm run build`, the swc build every other
# environment runs); the runtime stage holds production dependencies, dist/ and the files the gateway reads at run
# time, owned by root and read-only to the unprivileged node user. The npm is the one Node 20 ships.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# The manifests alone first, so that source edits do not invalidate the install layer. No scripts: the project's
# own `prepare` would build before the sources are here, and the build runs below.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY .swcrc ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only. No scripts: `prepare` needs the build tools left out here, and no production
# dependency needs its install script.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# package.json's "type": "module" is what makes Node load dist/*.js as ES modules.
COPY package.json ./
# Read at run time, by paths relative to the compiled modules: the migrations (the migrate command, and the
# gateway's readiness check for pending ones) and the persisted-documents manifest the gateway preloads.
COPY sql ./sql
COPY schema/persisted/persisted-documents.json ./schema/persisted/
COPY --from=build /app/dist ./dist
USER node
EXPOSE 4000
# Liveness: /healthz (readiness, /readyz, is for the load balancer). Slim images have no curl; node's
# built-in fetch does. 127.0.0.1, not localhost, which may resolve to ::1.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM starts a graceful shutdown: /readyz turns 503, in-flight requests finish within SHUTDOWN_GRACE_MS
# (10 s by default; give `docker stop -t` / the orchestrator's grace period a little more).
STOPSIGNAL SIGTERM
# node itself is the container's main process (no npm or shell in between), so SIGTERM reaches the gateway.
# Source maps make stack traces name the TypeScript file and line. The one-shot commands run the same way:
# `docker run --rm -e DATABASE_URL=... marketpulse node dist/cli/migrate.js` (seed, ingest, api-key alike).
CMD ["node", "--enable-source-maps", "dist/main.js"]
