#!/usr/bin/env bash
# Between two measured installs: remove whatever the last one created, by any tool.
# Uses KUBECONFIG and BENCH_RENDERED (the rendered manifest kubectl applied).
bin/helm uninstall romana -n kube-system --wait --timeout 60s >/dev/null 2>&1 || true
bin/kubectl delete -f "$BENCH_RENDERED" --ignore-not-found --wait=true >/dev/null 2>&1 || true
bin/kubectl -n kube-system delete secret romana-datastore --ignore-not-found >/dev/null 2>&1 || true
