"""Host telemetry: a sampler that runs beside a benchmark and writes CSVs.

`with_telemetry(run_script)` puts a prelude in front of a driver's run
script (which runs in the benchmark directory). The prelude starts the
sampler in a session of its own, so the runner's clean-up of the job's
process group never has to stop it; it samples every `SAMPLE_INTERVAL_S`
and ends within `WATCH_TICK_S` of the benchmark's shell (`$$`, which
FMBench's `exec` keeps), however that ended. It writes, into `telemetry/`
beside `work/`:

- `gpu.csv` (where `nvidia-smi` exists): `timestamp,index,
  utilization_gpu_percent,memory_used_mib`, one line per GPU and sample;
- `host.csv` (where /proc exists): `epoch_s,cpu_percent,memory_used_mib`.

The report reads them from `artifacts/<host>/<benchmark>/telemetry/`.
"""

from __future__ import annotations

TELEMETRY_DIR = "telemetry"
GPU_CSV = "gpu.csv"
HOST_CSV = "host.csv"
GPU_COLUMNS = ("timestamp", "index", "utilization_gpu_percent", "memory_used_mib")
HOST_COLUMNS = ("epoch_s", "cpu_percent", "memory_used_mib")
# What the runner harvests, relative to the benchmark directory.
HARVEST_PATTERN = f"{TELEMETRY_DIR}/*.csv"
# One sample a second: nvidia-smi's own loop granularity, and about 100 KB of
# CSV per GPU-hour — small beside any benchmark's logs.
SAMPLE_INTERVAL_S = 1
# How often the sampler looks whether the benchmark is still there: well
# inside the runner's own look at the job (~0.2–0.4 s), so the sampler is
# gone before the harvest starts.
WATCH_TICK_S = 0.1

SAMPLER_SCRIPT = f"""\
# fmbench-orch telemetry sampler: $1 = pid to watch, $2 = folder, $3 = seconds
watch=$1; out=$2; interval=$3; gpu_pid=""
ticks_per_sample=$(awk -v i="$interval" 'BEGIN {{printf "%d", i / {WATCH_TICK_S}}}')
mkdir -p "$out" || exit 0
if command -v nvidia-smi >/dev/null 2>&1; then
  echo "{",".join(GPU_COLUMNS)}" > "$out/{GPU_CSV}"
  nvidia-smi --query-gpu=timestamp,index,utilization.gpu,memory.used \\
    --format=csv,noheader,nounits -l "$interval" >> "$out/{GPU_CSV}" 2>/dev/null &
  gpu_pid=$!
fi
trap '[ -n "$gpu_pid" ] && kill "$gpu_pid" 2>/dev/null; exit 0' TERM INT
cpu_times() {{
  read -r _ user nice system idle iowait irq softirq steal _ < /proc/stat
  echo $((user + nice + system + idle + iowait + irq + softirq + steal)) \\
    $((idle + iowait))
}}
memory_used_mib() {{
  awk '/^MemTotal:/ {{t = $2}} /^MemAvailable:/ {{a = $2}}
       END {{printf "%d", (t - a) / 1024}}' /proc/meminfo
}}
host=""
if [ -r /proc/stat ] && [ -r /proc/meminfo ]; then
  host=1
  echo "{",".join(HOST_COLUMNS)}" > "$out/{HOST_CSV}"
  set -- $(cpu_times); total0=$1; idle0=$2
fi
tick=0
while kill -0 "$watch" 2>/dev/null; do
  sleep {WATCH_TICK_S}
  tick=$((tick + 1))
  [ "$tick" -ge "$ticks_per_sample" ] || continue
  tick=0
  [ -n "$host" ] || continue
  set -- $(cpu_times)
  busy=$(( ($1 - total0) - ($2 - idle0) )); span=$(( $1 - total0 ))
  total0=$1; idle0=$2
  [ "$span" -gt 0 ] || continue
  cpu=$(awk -v b="$busy" -v s="$span" 'BEGIN {{printf "%.1f", 100 * b / s}}')
  echo "$(date +%s),$cpu,$(memory_used_mib)" >> "$out/{HOST_CSV}"
done
[ -n "$gpu_pid" ] && kill "$gpu_pid" 2>/dev/null
exit 0
"""

# Limitation: accelerators are sampled through nvidia-smi only — matters on
# Neuron hosts (inf2, trn1), which get CPU and memory but no accelerator use.
_PRELUDE = f"""\
mkdir -p {TELEMETRY_DIR}
cat > {TELEMETRY_DIR}/sampler.sh <<'FMBENCH_ORCH_SAMPLER'
{SAMPLER_SCRIPT}FMBENCH_ORCH_SAMPLER
setsid bash {TELEMETRY_DIR}/sampler.sh $$ {TELEMETRY_DIR} {SAMPLE_INTERVAL_S} \\
  </dev/null >/dev/null 2>&1 &
"""


def with_telemetry(run_script: str) -> str:
    """`run_script` with the sampler started first, in the benchmark directory."""
    return _PRELUDE + run_script
