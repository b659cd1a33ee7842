// Package schema is the result file of one `meshbench run`: what ran, on
// what machine, and per step per target what was measured. One JSON file per
// run lives in results/; `meshbench report` and `meshbench gate` read them.
//
// Units are in the field names: _us microseconds, _ms milliseconds, _s
// seconds, _mib mebibytes. A field that could not be measured is absent (nil
// pointer) rather than zero, so a report never shows a made-up 0.
package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/meshbench/meshbench/internal/atomicfile"
)

// Version is the value of Run.Schema this package writes and reads.
const Version = "meshbench.dev/result/v1"

// Run is one result file.
type Run struct {
	Schema      string      `json:"schema"`
	ID          string      `json:"id"` // e.g. "20261123T101500Z-default"; also the file name without .json
	Started     time.Time   `json:"started"`
	Finished    time.Time   `json:"finished"`
	Mode        string      `json:"mode"` // "loopback", "netns" or "kind"
	Environment Environment `json:"environment"`
	Scenario    Scenario    `json:"scenario"`
	// Steps are in the order they ran (targets alternate within a rate and
	// repetition: A B C A B C ...).
	Steps []Step `json:"steps"`
	// Summaries has one entry per target and rate: the median over the
	// repetitions and their spread.
	Summaries []Summary `json:"summaries"`
	// SMP is each summary in the Service Mesh Performance spec's result
	// shape (latencies in milliseconds, actual_qps).
	SMP []SMPResult `json:"smp"`
	// GoBenchmarks are `go test -bench` results recorded with the run (the
	// gate compares their allocs/op); empty when none were run.
	GoBenchmarks []GoBenchmark `json:"go_benchmarks,omitempty"`
	// Warnings are run-level remarks (skipped peers, disturbed steps).
	Warnings []string `json:"warnings"`
}

// Environment is the machine and software the run measured.
type Environment struct {
	CPUModel  string `json:"cpu_model"`
	Cores     int    `json:"cores"`
	Kernel    string `json:"kernel"`
	OS        string `json:"os"` // PRETTY_NAME of /etc/os-release
	GoVersion string `json:"go_version"`
	GitCommit string `json:"git_commit"` // "" outside a git checkout
	GitDirty  bool   `json:"git_dirty"`
	Hostname  string `json:"hostname"`
	// Versions of every program that took part, by name: "meshproxy",
	// "meshload", "nginx", "haproxy", "envoy", "linkerd2-proxy", "istio", ...
	Versions map[string]string `json:"versions"`
}

// Scenario records which scenario ran, as it was after defaults.
type Scenario struct {
	Name        string          `json:"name"`
	File        string          `json:"file"`
	Description string          `json:"description"`
	Spec        json.RawMessage `json:"spec"` // the normalised scenario
}

// Step is one target measured at one rate in one repetition.
type Step struct {
	Target     string  `json:"target"`     // target name from the scenario, e.g. "direct", "meshproxy-pair-mtls", "nginx"
	Kind       string  `json:"kind"`       // "direct", "meshproxy", "nginx", "haproxy", "envoy", "linkerd2-proxy", "istio", "linkerd"
	Topology   string  `json:"topology"`   // "direct", "client-sidecar", "server-sidecar", "sidecar-pair", "one-hop"
	TLS        string  `json:"tls"`        // "none" or "mtls"
	Protocol   string  `json:"protocol"`   // "http/1.1" or "h2"
	Rate       float64 `json:"rate"`       // target requests/s; 0 = closed loop
	Repetition int     `json:"repetition"` // 1-based
	Status     string  `json:"status"`     // "ok", "failed" or "skipped"
	Error      string  `json:"error,omitempty"`

	Started   time.Time `json:"started"`
	DurationS float64   `json:"duration_s"`

	Load *Load `json:"load,omitempty"` // nil when the step failed before load ran
	// AddedLatencyUS is this step's latency minus the direct target's at the
	// same rate and repetition (absent for direct itself, or when direct
	// failed).
	AddedLatencyUS *Latency `json:"added_latency_us,omitempty"`
	// Proxies are the proxy processes of this target (none for direct).
	Proxies []Proxy `json:"proxies"`
	// CPUPerRequestUS is the CPU time of all Proxies over the requests the
	// step completed (requests + errors), in µs.
	CPUPerRequestUS *float64 `json:"cpu_per_request_us,omitempty"`
	// RSSMiB is the sum over Proxies of their peak VmRSS during the step.
	RSSMiB *float64 `json:"rss_mib,omitempty"`
	// Busy is how much CPU other processes used during the step.
	Busy Busy `json:"busy"`
	// Split is the traffic-split check, when the scenario asks for one.
	Split *Split `json:"split,omitempty"`
	// Soak is what a soak step did beside its load and its verdict, when
	// the scenario is a soak.
	Soak *Soak `json:"soak,omitempty"`
}

// Soak is one soak step's disturbances, memory over time and verdict.
// Times (_s) are seconds from the start of the measured load.
type Soak struct {
	// OK is the verdict: failures within the budget, every disturbance
	// done and applied, and every judged proxy's RSS flat. Reasons say
	// what failed.
	OK      bool     `json:"ok"`
	Reasons []string `json:"reasons,omitempty"`
	// Failures are the load's failed requests (unexpected status and
	// transport errors) plus the slow reader's failed exchanges;
	// FailureBudget is expected_failures_per_kill × the kills done.
	Failures                uint64 `json:"failures"`
	FailureBudget           uint64 `json:"failure_budget"`
	ExpectedFailuresPerKill int    `json:"expected_failures_per_kill"`

	Reloads    SoakEvents     `json:"reloads"`
	Rotations  SoakEvents     `json:"rotations"`
	Kills      SoakKills      `json:"kills"`
	SlowReader SoakSlowReader `json:"slow_reader"`
	// RSS is every proxy's VmRSS over time and its flatness verdict.
	RSS []SoakRSS `json:"rss"`
}

// SoakEvents counts one periodic disturbance: how many the period gave
// over the run, how many the runner did and when, and how many each proxy
// counted in its own metrics (config reloads, or identity reloads).
type SoakEvents struct {
	EveryS  float64        `json:"every_s"` // 0: off
	Planned int            `json:"planned"`
	Done    int            `json:"done"`
	AtS     []float64      `json:"at_s"`
	Applied map[string]int `json:"applied,omitempty"` // proxy name -> its metric's increase
	// Rejected is what the proxies counted as failed (a reload refused,
	// an identity that did not validate), by proxy.
	Rejected map[string]int `json:"rejected,omitempty"`
	Errors   []string       `json:"errors,omitempty"` // the runner's own errors, first few
}

// SoakKills counts the pod kills: each kill's time, when the pod was
// ready again, and how many requests its restarted echo served before the
// next kill or the end of the run.
type SoakKills struct {
	SoakEvents
	Pod       string    `json:"pod"` // e.g. "server-sidecar-2 + echo-2"
	DownS     float64   `json:"down_s"`
	Restarted int       `json:"restarted"`
	ReadyAtS  []float64 `json:"ready_at_s"`
	// ServedAfterRestart is, per restart, the requests the restarted echo
	// served until the next kill or the end (its /stats).
	ServedAfterRestart []uint64 `json:"served_after_restart"`
}

// SoakSlowReader is the slow reader's account.
type SoakSlowReader struct {
	Size      int      `json:"size"`             // bytes per response; 0: no slow reader
	RateBPS   int      `json:"rate_bps"`         // bytes/s it read at
	Responses uint64   `json:"responses"`        // complete, verified responses
	Bytes     uint64   `json:"bytes"`            // body bytes received and verified
	Failures  int      `json:"failures"`         // exchanges that failed (cut, wrong status or bytes)
	Errors    []string `json:"errors,omitempty"` // first few
}

// SoakRSS is one proxy's memory over the soak and its flatness verdict.
type SoakRSS struct {
	Name    string      `json:"name"`
	Samples []RSSSample `json:"samples"`
	// RestartsAtS are when the proxy came back after a kill: a proxy
	// with restarts is not judged (each incarnation starts afresh).
	RestartsAtS []float64 `json:"restarts_at_s,omitempty"`
	Judged      bool      `json:"judged"`
	// WarmMiB is the median of the samples in the reference window,
	// LastMiB of those in the last window; LimitMiB the growth allowed.
	WarmMiB   float64 `json:"warm_mib"`
	LastMiB   float64 `json:"last_mib"`
	GrowthMiB float64 `json:"growth_mib"`
	LimitMiB  float64 `json:"limit_mib"`
	Flat      bool    `json:"flat"`
	Note      string  `json:"note,omitempty"`
}

// RSSSample is one VmRSS reading.
type RSSSample struct {
	TS  float64 `json:"t_s"`
	MiB float64 `json:"mib"`
}

// Load is what meshload measured (its -json output, condensed).
type Load struct {
	TargetRate   float64 `json:"target_rate"`
	AchievedRate float64 `json:"achieved_rate"`
	Connections  int     `json:"connections"`
	// Requests is the number of responses of any status; Errors the
	// requests that failed without a response (transport errors).
	Requests     uint64            `json:"requests"`
	Errors       uint64            `json:"errors"`
	ErrorsByKind map[string]uint64 `json:"errors_by_kind"`
	StatusCodes  map[string]uint64 `json:"status_codes"`
	// Expect is the set of statuses meshload counted as success (its
	// -expect, "2xx" by default); empty in files written before it existed.
	Expect string `json:"expect,omitempty"`
	// Successes is the number of responses whose status is expected;
	// UnexpectedStatus the responses whose status is not (Requests =
	// Successes + UnexpectedStatus).
	Successes        uint64 `json:"successes"`
	UnexpectedStatus uint64 `json:"unexpected_status"`
	// SuccessRatio is Successes / (Requests + Errors), 0 when nothing was
	// sent; nil in result files written before success was classified.
	SuccessRatio *float64 `json:"success_ratio,omitempty"`
	// LatencyUS summarises successful responses only; failures have their
	// own summaries so they never mix with successful latencies.
	LatencyUS Latency `json:"latency_us"`
	// UnexpectedLatencyUS summarises responses with an unexpected status,
	// ErrorLatencyUS the time from due to failure of transport errors.
	UnexpectedLatencyUS *Latency `json:"unexpected_latency_us,omitempty"`
	ErrorLatencyUS      *Latency `json:"error_latency_us,omitempty"`
	// Spectrum is the latency percentile spectrum (HdrHistogram's percentile
	// distribution, thinned to at most ~100 points), for charts.
	Spectrum      []Percentile `json:"spectrum"`
	SchedLagP99US float64      `json:"sched_lag_p99_us"`
	GeneratorCPUS float64      `json:"generator_cpu_s"`
	Warnings      []string     `json:"warnings"`
}

// Latency is a latency summary in microseconds.
type Latency struct {
	Min   float64 `json:"min"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	P9999 float64 `json:"p9999"`
	Max   float64 `json:"max"`
}

// Percentile is one point of a latency spectrum.
type Percentile struct {
	Percentile float64 `json:"percentile"` // 0..100
	US         float64 `json:"us"`
}

// Proxy is one proxy (for a multi-process peer such as nginx, all of its
// processes summed) sampled from /proc during the step.
type Proxy struct {
	Name      string  `json:"name"` // e.g. "client-sidecar", "server-sidecar", "nginx"
	PIDs      []int   `json:"pids"`
	Samples   int     `json:"samples"`     // /proc samples taken during the step
	RSSMiB    float64 `json:"rss_mib"`     // peak VmRSS seen in the samples (sum over processes)
	RSSAvgMiB float64 `json:"rss_avg_mib"` // mean VmRSS over the samples
	HWMMiB    float64 `json:"hwm_mib"`     // VmHWM at the end of the step (sum over processes)
	CPUS      float64 `json:"cpu_s"`       // user+system CPU time used during the step
}

// Busy is the machine's load from processes outside the run during a step.
type Busy struct {
	// OtherCPUPercent is CPU used by everything except the run's own
	// processes (meshload, servers, proxies), as a percentage of all cores.
	OtherCPUPercent float64 `json:"other_cpu_percent"`
	// Disturbed flags a step whose OtherCPUPercent exceeded the threshold
	// the runner uses (documented in README), so its numbers deserve doubt.
	Disturbed bool `json:"disturbed"`
}

// Split is a weighted-split check: the share each backend served, read from
// the echo servers' own request counters.
type Split struct {
	Expected map[string]float64 `json:"expected"` // backend name -> expected share, 0..1
	Counts   map[string]uint64  `json:"counts"`   // backend name -> requests it served during the step
	Observed map[string]float64 `json:"observed"` // backend name -> observed share
	OK       bool               `json:"ok"`       // every observed share within tolerance of the expected
	Note     string             `json:"note,omitempty"`
}

// Summary aggregates one target at one rate over its repetitions: the
// median, and the min and max as the spread.
type Summary struct {
	Target        string  `json:"target"`
	Kind          string  `json:"kind"`
	Topology      string  `json:"topology"`
	TLS           string  `json:"tls"`
	Rate          float64 `json:"rate"`
	Repetitions   int     `json:"repetitions"` // steps with status ok
	Failed        int     `json:"failed"`
	AchievedRate  Spread  `json:"achieved_rate"`
	P50US         Spread  `json:"p50_us"`
	P90US         Spread  `json:"p90_us"`
	P99US         Spread  `json:"p99_us"`
	P999US        Spread  `json:"p999_us"`
	AddedP50US    *Spread `json:"added_p50_us,omitempty"`
	AddedP90US    *Spread `json:"added_p90_us,omitempty"`
	AddedP99US    *Spread `json:"added_p99_us,omitempty"`
	CPUPerRequest *Spread `json:"cpu_per_request_us,omitempty"`
	RSSMiB        *Spread `json:"rss_mib,omitempty"`
	Errors        uint64  `json:"errors"`
	Disturbed     int     `json:"disturbed"` // steps flagged as disturbed
}

// Spread is a median with the min and max it came from.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

// SMPResult is one summary in the Service Mesh Performance (SMP) spec's
// result shape.
type SMPResult struct {
	Target      string     `json:"target"`
	Mesh        string     `json:"mesh"` // "none", "meshproxy", "nginx", ...
	Rate        float64    `json:"rate"`
	LatenciesMS SMPLatency `json:"latencies_ms"`
	ActualQPS   float64    `json:"actual_qps"`
}

// SMPLatency is SMP's latency block, in milliseconds.
type SMPLatency struct {
	Min     float64 `json:"min"`
	Average float64 `json:"average"`
	P50     float64 `json:"p50"`
	P90     float64 `json:"p90"`
	P99     float64 `json:"p99"`
	Max     float64 `json:"max"`
}

// GoBenchmark is one `go test -bench` line (median over its -count runs).
type GoBenchmark struct {
	Name        string  `json:"name"` // e.g. "engine.BenchmarkParse"
	NsPerOp     float64 `json:"ns_per_op"`
	AllocsPerOp float64 `json:"allocs_per_op"`
	BytesPerOp  float64 `json:"bytes_per_op"`
	Runs        int     `json:"runs"`
}

// Read decodes one result file strictly (unknown fields are errors) and
// checks its schema version.
func Read(r io.Reader) (*Run, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var run Run
	if err := dec.Decode(&run); err != nil {
		return nil, fmt.Errorf("result: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("result: trailing data after the object")
	}
	if run.Schema != Version {
		return nil, fmt.Errorf("result: schema %q, want %q", run.Schema, Version)
	}
	return &run, nil
}

// ReadFile reads a result file; errors name the file.
func ReadFile(path string) (*Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	run, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return run, nil
}

// Write encodes run, indented, with a trailing newline.
func Write(w io.Writer, run *Run) error {
	run.Schema = Version
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(run)
}

// WriteFile writes run to path atomically (temp file and rename), so a
// crash never leaves half a result.
func WriteFile(path string, run *Run) error {
	return atomicfile.Write(path, ".result-*.json", func(w io.Writer) error { return Write(w, run) })
}
