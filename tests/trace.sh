#!/bin/sh
# trace.sh — run timelines: parallelizer-run #:trace and PARALLELIZER_TRACE
# write Chrome trace-event JSON, and `parallelizer trace` draws it as SVG.
#
#   tests/trace.sh
#
# The JSON is checked with Python's json module (/usr/bin/python3): it is
# valid, has one lane per rank, its slices nest within each lane, and a
# broadcast of a known value counts the bytes of its encoding on every
# rank. The SVG is checked as well-formed XML with one lane per rank. On
# the serial, multiprocessing and (when mpirun is there) MPI backends.
# Every command runs under `timeout`. Prints "N passed, N failed".

set -u

top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
passed=0
failed=0
python=/usr/bin/python3
limit=120

check() {
  label=$1
  shift
  if "$@" >"$tmp/check.out" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $label"
    sed 's/^/  | /' "$tmp/check.out" | head -20
  fi
}

# The job: a broadcast of a 100000-byte bytevector from rank 0, a barrier,
# a scatter, messages from rank 0 to the last rank, a gather. The main
# process writes the size of the broadcast's encoding to FILE.bytes.
cat >"$tmp/job.scm" <<'EOF'
(use-modules (parallelizer) (rnrs bytevectors))

(define trace-file (cadr (command-line)))
(define p (lookup-parallelizer #f))
(define payload (make-bytevector 100000 7))

(define* (job #:key parallelizer)
  (let* ((q parallelizer)
         (n (parallelizer-nprocs q))
         (last (1- n)))
    (broadcast q (and (on-main? q) payload))
    (barrier q)
    (scatter q (and (on-main? q) (iota (* 4 n))))
    (when (> n 1)
      (cond
       ((on-main? q) (send-to q 'one last) (send-to q 'two last))
       ((= (parallelizer-id q) last)
        (receive-from q 0) (receive-from q 0))))
    (gather q (parallelizer-id q))))

(define (main)
  (let ((ranks (if (getenv "PARALLELIZER_TRACE")
                   (parallelizer-run p job)
                   (parallelizer-run p job #:trace trace-file))))
    (unless (in-worker-process? ranks)
      (call-with-output-file (string-append trace-file ".bytes")
        (lambda (port)
          (write (bytevector-length (value->cbor payload)) port)))
      (format #t "ranks ~s~%" ranks))))

(main)
EOF

cat >"$tmp/check.py" <<'EOF'
import json, sys
path, nprocs = sys.argv[1], int(sys.argv[2])
expected_bytes = int(open(path + ".bytes").read())
trace = json.load(open(path))
events = trace["traceEvents"]
lanes = {e["tid"] for e in events if e.get("name") == "thread_name"}
assert lanes == set(range(nprocs)), ("lanes", lanes)
slices = [e for e in events if e.get("ph") == "X"]
assert {e["tid"] for e in slices} == set(range(nprocs)), "slices per rank"
for rank in range(nprocs):
    mine = sorted((e for e in slices if e["tid"] == rank),
                  key=lambda e: (e["ts"], -e["dur"]))
    assert mine[0]["name"] == "job", ("first slice", mine[0])
    stack = []
    for e in mine:
        assert e["ts"] >= 0 and e["dur"] >= 0, e
        end = e["ts"] + e["dur"]
        while stack and stack[-1] <= e["ts"]:
            stack.pop()
        assert not stack or end <= stack[-1] + 1e-9, ("not nested", e)
        stack.append(end)
    ops = [e["name"] for e in mine[1:]]
    assert ops[:3] == ["broadcast", "barrier", "scatter"], ops
    assert ops[-1] == "gather", ops
    bcast = [e for e in mine if e["name"] == "broadcast"]
    assert len(bcast) == 1 and bcast[0]["args"]["bytes"] == expected_bytes, \
        ("broadcast bytes", bcast, expected_bytes)
    assert bcast[0]["args"]["root"] == 0
    for e in mine[1:]:
        assert e["args"]["wait_us"] >= 0 and e["args"]["wait_us"] <= e["dur"] + 1, e
    if nprocs > 1 and rank == 0:
        sends = [e for e in mine if e["name"] == "send-to"]
        assert [e["args"]["to"] for e in sends] == [nprocs - 1] * 2, sends
    if nprocs > 1 and rank == nprocs - 1:
        recvs = [e for e in mine if e["name"] == "receive-from"]
        assert [e["args"]["from"] for e in recvs] == [0, 0], recvs
print("ok", len(slices), "slices")
EOF

cat >"$tmp/check-svg.py" <<'EOF'
import sys, xml.etree.ElementTree as ET
path, nprocs = sys.argv[1], int(sys.argv[2])
root = ET.parse(path).getroot()
ns = "{http://www.w3.org/2000/svg}"
assert root.tag == ns + "svg", root.tag
lanes = [g for g in root.iter(ns + "g") if g.get("class") == "lane"]
assert sorted(int(g.get("data-rank")) for g in lanes) == list(range(nprocs)), \
    [g.get("data-rank") for g in lanes]
for g in lanes:
    ops = [o for o in g.iter(ns + "g") if o.get("class") == "op"]
    assert ops, "a lane without operations"
legend = [g for g in root.iter(ns + "g") if g.get("class") == "legend"]
assert len(legend) == 1
texts = [t.text for t in legend[0].iter(ns + "text")]
assert "broadcast" in texts and "waiting for peers" in texts, texts
print("ok", len(lanes), "lanes")
EOF

# case NAME NPROCS COMMAND...: run COMMAND, which writes $tmp/NAME.json,
# then check the JSON and its SVG.
case_of() {
  name=$1
  n=$2
  shift 2
  json="$tmp/$name.json"
  if timeout --kill-after=5 "$limit" "$@" "$json" >"$tmp/$name.out" 2>&1; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL $name: the traced run"
    sed 's/^/  | /' "$tmp/$name.out" | head -20
    return
  fi
  check "$name: the JSON is valid and sound" "$python" "$tmp/check.py" "$json" "$n"
  check "$name: no part file is left" \
    sh -c "! ls '$tmp' | grep -q '$name.json.rank-'"
  check "$name: parallelizer trace draws it" \
    timeout "$limit" "$top/bin/parallelizer" trace "$json" -o "$tmp/$name.svg"
  check "$name: the SVG is well-formed, one lane per rank" \
    "$python" "$tmp/check-svg.py" "$tmp/$name.svg" "$n"
}

cd "$top" || exit 2
guile="./pre-inst-env guile --no-auto-compile"
PARALLELIZER=serial case_of serial 1 $guile "$tmp/job.scm"
PARALLELIZER=multiprocessing:3 case_of multiprocessing-3 3 $guile "$tmp/job.scm"
PARALLELIZER=multiprocessing:4 PARALLELIZER_TRACE="$tmp/environment.json" \
  case_of environment 4 $guile "$tmp/job.scm"

# The default output name, and errors of the command.
cp "$tmp/serial.json" "$tmp/default.json"
check "trace without -o writes FILE.svg" \
  sh -c "'$top/bin/parallelizer' trace '$tmp/default.json' \
         && test -s '$tmp/default.svg'"
check "trace of a missing file is a usage error" \
  sh -c "'$top/bin/parallelizer' trace '$tmp/none.json'; test \$? -eq 2"

# A run whose worker fails still leaves its trace, the failure marked.
# (The other workers may be stopped before they hand in their records.)
cat >"$tmp/failing.scm" <<'EOF'
(use-modules (parallelizer))
(define p (make-multiprocessing-parallelizer #:processes 3))
(catch #t
  (lambda ()
    (parallelizer-run p (lambda* (#:key parallelizer)
                          (barrier parallelizer)
                          (when (= 2 (parallelizer-id parallelizer))
                            (error "deliberate"))
                          (barrier parallelizer))
                      #:trace (cadr (command-line))))
  (lambda _ (display "failed as expected\n")))
EOF
if timeout "$limit" $guile "$tmp/failing.scm" "$tmp/failing.json" \
     >"$tmp/failing.out" 2>&1; then
  check "a failed run leaves a trace with the failure marked" \
    "$python" -c "
import json
e = json.load(open('$tmp/failing.json'))['traceEvents']
jobs = {x['tid']: x['args']['failed'] for x in e if x.get('name') == 'job'}
assert jobs[2] is True and 0 in jobs, jobs
"
else
  failed=$((failed + 1))
  echo "FAIL the failing traced run"
fi

if command -v mpirun >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  fi
  export OMPI_MCA_btl=self,vader
  case_of mpi 2 "$top/bin/parallelizer" run -n 2 --backend mpi "$tmp/job.scm"
else
  echo "SKIP mpi: no mpirun"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
