# One image for every projector service and the demo producer; the command picks which one runs.
FROM node:20-slim
WORKDIR /app
COPY package.json package-lock.json ./
COPY packages/events/package.json packages/events/
COPY packages/runtime/package.json packages/runtime/
COPY packages/producer/package.json packages/producer/
COPY services services
# Only the manifests first, so the dependency layer is cached across source changes (tsx runs the TypeScript).
RUN find services -mindepth 2 -not -name package.json -not -type d -delete && npm ci --no-audit --no-fund
COPY . .
ENV NODE_ENV=production HTTP_HOST=0.0.0.0
USER node
CMD ["node", "--import", "tsx", "services/users/src/main.ts"]
