# MarketPulse gateway image. Production runs the TypeScript sources through tsx (a production
# dependency), so there is no build stage: one stage installs production dependencies, the final
# one copies them next to the sources and drops root.

FROM node:20-bookworm-slim AS deps
# package-lock.json is written by npm 11; the npm 10 bundled with Node 20 rejects it in `npm ci`
# ("Missing: jiti@2.7.0 from lock file"). Only this throwaway stage gets the newer npm.
RUN npm install --global npm@11
WORKDIR /app
# The manifests alone first, so source edits do not invalidate the npm ci layer.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000
WORKDIR /app
# Everything stays owned by root and is read-only to the app user; with DATABASE_URL set the
# gateway writes nothing (tsx keeps its transform cache under /tmp).
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY schema ./schema
COPY sql ./sql
COPY src ./src
USER node
EXPOSE 4000
# Liveness: /healthz (readiness, /readyz, is for the load balancer). Slim images have no curl; node's
# built-in fetch does. 127.0.0.1, not localhost, which may resolve to ::1.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# SIGTERM starts a graceful shutdown: /readyz turns 503, in-flight requests finish within SHUTDOWN_GRACE_MS
# (10 s by default; give `docker stop -t` / the orchestrator's grace period a little more).
STOPSIGNAL SIGTERM
# node with tsx's loader rather than the tsx CLI: the CLI would run the app in a child process,
# one more process between the container's signals and the server.
CMD ["node", "--import", "tsx", "src/main.ts"]
