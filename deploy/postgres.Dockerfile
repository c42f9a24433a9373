# PostgreSQL for machines without a registry: Debian's server on the local base image.
# Where a registry is reachable the official image is used instead (LADDER_POSTGRES_IMAGE).
ARG BASE_IMAGE=ladder-base:bookworm
FROM ${BASE_IMAGE}
COPY deploy/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
RUN mkdir -p /var/lib/postgresql/data /run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /run/postgresql \
 && chmod 755 /usr/local/bin/postgres-entrypoint
USER postgres
ENV PGDATA=/var/lib/postgresql/data
# as in the official image: the data lives in a volume, not in the container's writable layer,
# whose storage driver (fuse-overlayfs on some engines) would add a userspace hop to every write
VOLUME /var/lib/postgresql/data
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]
CMD ["postgres"]
