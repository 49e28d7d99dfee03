# raft-lease node image: built with the full toolchain, run with production dependencies only,
# as the unprivileged `node` user, with the data dir as a volume.
#
#   docker build -t raft-lease .
#   docker run -v raft0:/var/lib/raft -p 5000:5000 raft-lease serve --id 0 \
#     --cluster 0=10.0.0.1:5000,1=10.0.0.2:5000,2=10.0.0.3:5000 --listen 0.0.0.0:5000 --data-dir /var/lib/raft
#
# compose.yaml runs a 3-node cluster from it. The base image is pinned to one Node.js 20 release.

FROM node:20.20.2-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY buf.yaml buf.gen.yaml tsconfig.json ./
COPY proto ./proto
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:20.20.2-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY bin ./bin
COPY proto ./proto
RUN mkdir -p /var/lib/raft && chown node:node /var/lib/raft
USER node
VOLUME ["/var/lib/raft"]
# gRPC (clients and peers), Prometheus metrics
EXPOSE 5000 9100
# SERVING while the node knows a leader (grpc.health.v1). A TLS node needs --tls-ca here as well.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "bin/raft-client.js", "--nodes", "0=127.0.0.1:5000", "--timeout", "4s", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/raft-node.js"]
CMD ["--help"]
