#!/usr/bin/env bash
# Compare release profiles by measurement (issue 6): builds release, release-plain and
# release-small, starts rook-sim with N OSDs (default 20000), and runs `status -o json`
# with each binary, interleaved, RUNS times: median wall time, peak RSS, binary size.
#   scripts/profile-compare.sh [OSDS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
osds="${1:-20000}" runs="${2:-7}"
for p in release release-plain release-small; do cargo build --locked --profile "$p" >/dev/null 2>&1; done
dir="$(mktemp -d)"; trap 'kill $sim 2>/dev/null; rm -rf "$dir"' EXIT
target/release/kubectl-ceph-image demo --serve --osds "$osds" --nodes $((osds / 200 > 0 ? osds / 200 : 1)) \
  --kubeconfig-out "$dir/kc" >"$dir/out" 2>/dev/null & sim=$!
until grep -q export "$dir/out" 2>/dev/null; do sleep 1; done
KUBECONFIG="$dir/kc" python3 - "$runs" <<'PY'
import os, subprocess, sys, time, statistics
runs = int(sys.argv[1])
bins = {p: f"target/{p}/kubectl-ceph-image" for p in ["release", "release-plain", "release-small"]}
res = {p: ([], 0) for p in bins}
for _ in range(runs):
    for p, b in bins.items():
        t = time.time()
        c = subprocess.Popen([b, "status", "-o", "json"], stdout=subprocess.DEVNULL)
        _, st, ru = os.wait4(c.pid, 0)
        assert os.waitstatus_to_exitcode(st) == 0
        walls, rss = res[p]
        walls.append(time.time() - t)
        res[p] = (walls, max(rss, ru.ru_maxrss))
base = statistics.median(res["release"][0])
print("| profile | median ms | vs release | peak RSS MiB | binary MiB |")
print("|---|---:|---:|---:|---:|")
for p, (walls, rss) in res.items():
    m = statistics.median(walls)
    print(f"| {p} | {m*1000:.0f} | {m/base:.2f}x | {rss/1024:.1f} | {os.path.getsize(bins[p])/2**20:.1f} |")
PY
