#!/usr/bin/env bash
# Builds the Kubernetes control plane the integration tests start: kube-apiserver,
# kube-controller-manager and kube-scheduler from the k8s.io/kubernetes module (its staging
# replaces pointed at the published k8s.io/* modules), etcd through a tiny module calling
# etcdmain, and kwok. Only the Go module proxy is needed. ~10 min cold on 2 cores, cached
# by version: `make deps` runs it when $OUT lacks the binaries.
set -euo pipefail
K8S=${K8S:-1.37.2}; STAGING=0.${K8S#1.}
KWOK=${KWOK:-v0.8.0}; ETCD=${ETCD:-v3.7.3}
OUT=${OUT:?set OUT to the directory for the binaries}
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
src=$(go mod download -json "k8s.io/kubernetes@v$K8S" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "could not download k8s.io/kubernetes@v$K8S" >&2; exit 1; }
cp -r "$src" "$WORK/k8s"; chmod -R u+w "$WORK/k8s"; cd "$WORK/k8s"
# The module zip has no staging/ tree and a vendor/ that does not match: use the modules.
rm -rf go.work go.work.sum vendor
sed -i -E "s#(k8s.io/[a-z0-9-]+) => ./staging/src/k8s.io/[a-z0-9-]+#\1 => \1 v$STAGING#" go.mod
LDF="-s -w -X k8s.io/component-base/version.gitVersion=v$K8S -X k8s.io/component-base/version.gitMajor=${K8S%%.*} -X k8s.io/component-base/version.gitMinor=$(echo "$K8S" | cut -d. -f2)"
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  GOFLAGS="-mod=mod -buildvcs=false" go build -trimpath -ldflags "$LDF" -o "$OUT/$c" "./cmd/$c"
done
GOBIN="$OUT" GOFLAGS=-buildvcs=false go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK"
# `go install go.etcd.io/etcd/server/v3@…` is refused (replace directives): wrap etcdmain.
mkdir -p "$WORK/etcd" && cd "$WORK/etcd"
printf 'module local/etcdbin\n\ngo 1.26\n' > go.mod
printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' > main.go
go get "go.etcd.io/etcd/server/v3@$ETCD" >/dev/null && go mod tidy >/dev/null
GOFLAGS=-buildvcs=false go build -trimpath -ldflags "-s -w" -o "$OUT/etcd" .
touch "$OUT/.complete"
