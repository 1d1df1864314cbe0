# Billed payments backend: one image for both roles (ROLE=api or ROLE=worker).
FROM node:20-slim

WORKDIR /app

# Dependencies first, so code changes reuse this layer. tsx is a runtime
# dependency (npm start runs TypeScript through it), so --omit=dev keeps it.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY config ./config
COPY src ./src
COPY workers ./workers
COPY bin ./bin
COPY tsconfig.json ./

USER node
ENV NODE_ENV=production
EXPOSE 3000
# node itself is the process that gets SIGTERM (through compose's init), so active jobs finish
# on `docker stop`; `npm start` would not pass the signal on.
CMD ["node", "--max-old-space-size=192", "--import", "tsx", "src/main.ts"]
