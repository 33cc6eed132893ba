# syntax=docker/dockerfile:1
#
# One image for every Roundtrip process. The entrypoint is `bun`; the argument picks the process:
#
#   docker build -t roundtrip .
#   docker run roundtrip services/click/src/index.ts           # or admin, gateway, attribution, …
#   docker run roundtrip packages/db/src/cli.ts migrate
#   docker run roundtrip packages/bus/src/cli.ts provision
#
# `--target click` (admin, gateway, …) builds the same image with that service as its default command.
# The Bun release is pinned (the exact tag the repository is developed and tested with, the
# packageManager of package.json); change it here, with that field, to move on.
ARG BUN_TAG=1.4.5

# ---- manifests: only what `bun install` reads, so the install layer is cached until a manifest changes.
FROM oven/bun:${BUN_TAG} AS manifests
WORKDIR /src
COPY . .
RUN mkdir -p /manifests \
 && cp package.json bun.lock /manifests/ \
 && find packages services test -name package.json -not -path '*/node_modules/*' \
      -exec cp --parents {} /manifests/ \;

# ---- deps: production dependencies of every workspace, exactly as locked.
FROM oven/bun:${BUN_TAG} AS deps
WORKDIR /app
COPY --from=manifests /manifests/ ./
RUN bun install --frozen-lockfile --production

# ---- runtime: dependencies plus sources, owned by root and read-only for the `bun` user (uid 1000).
FROM oven/bun:${BUN_TAG} AS runtime
WORKDIR /app
# No transpiler cache on disk: the root filesystem is read-only in Kubernetes.
ENV NODE_ENV=production BUN_RUNTIME_TRANSPILER_CACHE_PATH=0
COPY --from=deps /app/ ./
COPY package.json bun.lock tsconfig.base.json ./
COPY packages/ ./packages/
COPY services/ ./services/
USER bun
ENTRYPOINT ["bun"]

FROM runtime AS admin
CMD ["services/admin/src/index.ts"]
FROM runtime AS click
CMD ["services/click/src/index.ts"]
FROM runtime AS gateway
CMD ["services/gateway/src/index.ts"]
FROM runtime AS attribution
CMD ["services/attribution/src/index.ts"]
FROM runtime AS commission
CMD ["services/commission/src/index.ts"]
FROM runtime AS delivery
CMD ["services/delivery/src/index.ts"]

# The default target: no default process, the argument chooses (the Helm chart always passes one).
FROM runtime
