# The maintenance image: one static binary on an empty base, run as a
# non-root user, with no shell. Build: docker build -t maintenance . (or
# podman build). Run serve in front of an app:
#   docker run -p 8080:8080 -v maintenance:/data maintenance \
#     serve --listen :8080 --upstream http://app:8000
# The default store is sqlite:/data/maintenance.db; for a fleet, pass
# --store postgres://... or redis://... (or MAINTENANCE_STORE).

# BUILDER is the Go toolchain image of the first stage; it needs go and
# /bin/sh. VERSION, COMMIT and DATE are printed by "maintenance version".
ARG BUILDER=docker.io/library/golang:1.26
FROM ${BUILDER} AS build
ARG VERSION=(devel)
ARG COMMIT=unknown
ARG DATE=unknown
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false \
      -ldflags "-s -w -buildid= -X main.version=${VERSION} -X main.commit=${COMMIT} -X main.date=${DATE}" \
      -o /out/maintenance ./cmd/maintenance \
 && mkdir -p /out/data /out/etc \
 && echo 'maintenance:x:65532:65532:maintenance:/data:/nonexistent' > /out/etc/passwd \
 && echo 'maintenance:x:65532:' > /out/etc/group

FROM scratch
COPY --from=build /out/etc/passwd /out/etc/group /etc/
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build /out/maintenance /usr/bin/maintenance
# CA certificates for rediss://, TLS to PostgreSQL and HTTPS webhooks are
# taken from the builder (any Debian-based Go image has them).
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /data
ENV MAINTENANCE_STORE=sqlite:/data/maintenance.db
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["/usr/bin/maintenance"]
CMD ["serve", "--listen", ":8080", "--demo"]
