# One image for every projector service, the CLI and the demo producer; the command picks which one runs.
# Node.js 24 runs the TypeScript sources directly (type stripping: the code uses only erasable syntax,
# checked by tsconfig's erasableSyntaxOnly), so the image needs no compiler and no dev dependencies.

# 1. Production dependencies only, from the lock file. Manifests first: this layer is cached across source changes.
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/events/package.json packages/events/
COPY packages/runtime/package.json packages/runtime/
COPY packages/producer/package.json packages/producer/
COPY packages/cli/package.json packages/cli/
COPY services/users/package.json services/users/
COPY services/sessions/package.json services/sessions/
COPY services/grants/package.json services/grants/
COPY services/auth-methods/package.json services/auth-methods/
COPY services/pats/package.json services/pats/
COPY services/lockout-policies/package.json services/lockout-policies/
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# 2. The runtime image: sources, migrations and contract files; no tests, benchmarks or infra scripts.
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production HTTP_HOST=0.0.0.0 HTTP_PORT=8080
COPY --from=deps /app/node_modules node_modules
COPY package.json LICENSE ./
COPY packages packages
COPY services services
RUN rm -rf packages/*/test services/*/test \
 && ln -s /app/packages/cli/bin/idp-admin.mjs /usr/local/bin/idp-admin
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "services/users/src/main.ts"]
