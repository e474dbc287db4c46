# A Veil node in an image of its own: the static binary and an empty /data,
# nothing else. No image is pulled and nothing is compiled here: `make docker`
# builds bin/veil-static on the host (CGO_ENABLED=0) and then this image.
#
#   make docker                 # bin/veil-static, then the image veil:dev
#   docker-compose up           # three nodes; see compose.yaml and the README
FROM scratch

# scratch has no mkdir: the data directory is an empty directory of the build
# context, owned by the user the node runs as. A named volume mounted there
# starts with this owner and mode.
COPY --chown=65532:65532 bin/docker/data/ /data/
COPY bin/veil-static /veil

# A numeric user, since scratch has no /etc/passwd.
USER 65532:65532
WORKDIR /data
VOLUME /data

# Gossip (memberlist, UDP and TCP), the HTTP API, and Raft (Raft mode only):
# the ports compose.yaml gives --gossip, --api and --raft.
EXPOSE 7946/tcp 7946/udp 8080/tcp 8300/tcp

# Inside a container a node listens on every interface: loopback would reach
# no one. It advertises its container address (the first private one).
ENV VEIL_DATA_DIR=/data VEIL_GOSSIP=0.0.0.0:7946 VEIL_API=0.0.0.0:8080 VEIL_RAFT=0.0.0.0:8300
ENTRYPOINT ["/veil"]
CMD ["node"]
