# Billed payments backend: one image for both roles (ROLE=api or ROLE=worker).

# Build stage: all dependencies (TypeScript is a dev dependency), then `npm run build` → dist/.
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY config ./config
COPY src ./src
COPY workers ./workers
RUN npm run build

# Runtime stage: production dependencies and the compiled JavaScript only; no tsx loader, no sources
# (the typescript package may still arrive as a library's optional peer; nothing here runs it).
FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production

# Dependencies first, so code changes reuse this layer.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY --from=build /app/dist ./dist
# The ops CLI (`npm run ops`, `docker compose exec api ...`) finds no sources here and runs dist/;
# npm start's prestart (scripts/build.js --if-stale) likewise keeps dist/ as built.
COPY bin ./bin
COPY scripts ./scripts

USER node
EXPOSE 3000
# node itself is the process that gets SIGTERM (through compose's init), so active jobs finish
# on `docker stop`; `npm start` would not pass the signal on. The same flags as `npm start`,
# without its .env file: compose passes the environment.
CMD ["node", "--max-old-space-size=192", "dist/src/main.js"]
