# One image for every faultline command: the sidecar, the init container (`faultline iptables`)
# and the admission webhook. Same install steps as CI: npm ci (which builds the native
# SO_ORIGINAL_DST helper with node-gyp), then the TypeScript build.

# --- build: compilers for the native helper, dev dependencies for tsc ---
FROM node:20-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ make python3 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# node-gyp builds against the headers this Node ships, instead of downloading them.
ENV npm_config_nodedir=/usr/local
COPY package.json package-lock.json ./
COPY sidecar/native/ sidecar/native/
RUN npm ci --no-audit --no-fund \
 && test -f sidecar/native/build/Release/original_dst.node
COPY tsconfig.json tsconfig.build.json ./
COPY src/ src/
COPY bin/ bin/
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts

# --- runtime: Node, iptables (the init container, and the on-demand sidecar's root helper) ---
FROM node:20-bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends iptables \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production
# glibc keeps freed heap memory instead of handing it back at once: otherwise Node's 64 KiB read
# buffers, freed in batches by V8, are returned to the kernel and faulted in again, which halves
# bulk throughput in some processes and not others (docs/benchmarks.md, "Bulk throughput").
ENV GLIBC_TUNABLES=glibc.malloc.trim_threshold=134217728:glibc.malloc.mmap_threshold=4194304
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
COPY --from=build /app/bin/ bin/
COPY --from=build /app/sidecar/native/build/Release/original_dst.node sidecar/native/build/Release/original_dst.node
# The sidecar runs as UID/GID 1337: its own traffic is what the interception rules exempt.
# (The init container overrides this with runAsUser 0 and NET_ADMIN/NET_RAW only; an on-demand
# sidecar starts as root with NET_ADMIN/NET_RAW/SETUID/SETGID, forks its iptables helper and
# drops itself to 1337 before it reads a file or binds a socket.)
USER 1337:1337
EXPOSE 15001 15006 15020 8443
ENTRYPOINT ["node", "/app/bin/faultline.js"]
CMD ["sidecar", "--policy", "/etc/faultline/policy.yaml", "--inbound-port", "15006", "--outbound-port", "15001"]
