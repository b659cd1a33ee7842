// Package runner executes a scenario on loopback: it starts the echo
// backends and every target (meshproxy topologies and peer proxies) on ports
// it picks, drives meshload at each rate step with the targets in
// alternating order, samples each proxy's memory and CPU from /proc, and
// writes one result file (results/schema) — also when a step or the whole
// run fails. Every process it starts is stopped on every exit path.
//
// In netns mode (Options.Netns or a scenario's mode: netns; root) the same
// scenario runs transparently: every target gets a client pod and a server
// pod (network namespaces, see pods.go in this package and package
// netns), the sidecars' traffic is captured by iptables, and the load
// addresses the Services' cluster IPs.
package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/meshbench/meshbench/results/aggregate"
	"github.com/meshbench/meshbench/results/schema"
	"github.com/meshbench/meshbench/scenarios/internal/machine"
	"github.com/meshbench/meshbench/scenarios/internal/netns"
	"github.com/meshbench/meshbench/scenarios/internal/scenario"
)

// Binaries are the programs the runner starts.
type Binaries struct {
	Meshproxy, Meshload, Meshbench string
}

// Options configure a run.
type Options struct {
	Bin    Binaries
	OutDir string    // result files go here (created)
	Log    io.Writer // one progress line per step; nil: none
	// KeepWork keeps the scratch directory (configs, logs, raw meshload
	// output) and says where it is.
	KeepWork bool
	// Live shows a "running" line while each step runs (Log is a
	// terminal); the step's result line replaces it.
	Live bool
	// GoBenchmarks are attached to the result (the gate compares their
	// allocs/op); see gate.ParseGoBench.
	GoBenchmarks []schema.GoBenchmark
	// Netns runs the scenario in transparent mode (root): pods as network
	// namespaces with istio-init style capture. A scenario with mode: netns
	// selects it too.
	Netns bool
}

type run struct {
	sc   *scenario.Scenario
	bin  Binaries
	sup  *supervisor
	tp   *topology
	work string
	log  io.Writer
	live bool // a "running" line while each step runs

	// netns mode: the namespaces' name prefix ("" on loopback) and the
	// network, once created.
	prefix string
	net    *netns.Network
}

// netnsAvailable is netns.Available (a variable for tests).
var netnsAvailable = netns.Available

// Run executes sc and writes its result file; it returns the result and
// the file's path. The error is non-nil only when no result could be
// written at all; a run that failed part-way writes a result that says why
// (Run.Warnings, failed steps) and returns it with a nil error.
func Run(ctx context.Context, sc *scenario.Scenario, opts Options) (*schema.Run, string, error) {
	mode := scenario.ModeLoopback
	if opts.Netns || sc.Mode == scenario.ModeNetns {
		mode = scenario.ModeNetns
		if sc.Soak.Enabled() {
			return nil, "", fmt.Errorf("scenario %s: a soak runs in loopback mode only (it kills and restarts loopback pods)", sc.Name)
		}
		if err := netnsAvailable(); err != nil {
			return nil, "", fmt.Errorf("scenario %s: netns mode cannot run here: %w", sc.Name, err)
		}
	}
	pin, err := pinning(sc)
	if err != nil {
		return nil, "", fmt.Errorf("scenario %s: %w", sc.Name, err)
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return nil, "", err
	}
	work, err := os.MkdirTemp("", "meshbench-"+sc.Name+"-")
	if err != nil {
		return nil, "", err
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	r := &run{sc: sc, bin: opts.Bin, sup: &supervisor{dir: work, pin: pin}, work: work, log: logw, live: opts.Live}
	if mode == scenario.ModeNetns {
		r.prefix = nextPrefix()
	}
	defer func() {
		r.sup.stopAll(3 * time.Second)
		// Only once nothing runs in them: Close would SIGKILL what is left.
		if err := r.closeNetwork(); err != nil {
			fmt.Fprintf(logw, "removing network namespaces: %v\n", err)
		}
		if opts.KeepWork {
			fmt.Fprintf(logw, "work directory kept: %s\n", work)
		} else {
			os.RemoveAll(work)
		}
	}()

	started := time.Now().UTC()
	res := &schema.Run{
		Schema:       schema.Version,
		ID:           started.Format("20060102T150405Z") + "-" + sc.Name,
		Started:      started,
		Mode:         mode,
		Environment:  machine.Environment(ctx, map[string]string{"meshproxy": opts.Bin.Meshproxy, "meshload": opts.Bin.Meshload, "meshbench": opts.Bin.Meshbench}),
		Scenario:     schema.Scenario{Name: sc.Name, File: sc.File, Description: sc.Description},
		Steps:        []schema.Step{},
		Warnings:     []string{},
		GoBenchmarks: opts.GoBenchmarks,
	}
	recorded := *sc
	recorded.Mode = mode // as run: -netns overrides the file
	if spec, err := recorded.JSON(); err == nil {
		res.Scenario.Spec = json.RawMessage(spec)
	}
	r.execute(ctx, res)
	if r.prefix != "" {
		// Tear the pods down before the result is written, so that it says
		// when they could not be removed. (The deferred calls repeat this
		// as no-ops, and cover a panic.)
		r.sup.stopAll(3 * time.Second)
		if err := r.closeNetwork(); err != nil {
			res.Warnings = append(res.Warnings, "removing network namespaces: "+err.Error())
		}
	}
	res.Finished = time.Now().UTC()
	addLatencyOverDirect(res.Steps)
	res.Summaries = aggregate.Summarize(res.Steps)
	res.SMP = aggregate.SMP(res.Steps, res.Summaries)
	if res.Summaries == nil {
		res.Summaries = []schema.Summary{}
	}
	if res.SMP == nil {
		res.SMP = []schema.SMPResult{}
	}
	path := filepath.Join(opts.OutDir, res.ID+".json")
	if err := schema.WriteFile(path, res); err != nil {
		return res, "", err
	}
	return res, path, nil
}

// execute starts the topology and runs every step, recording failures in
// res instead of returning them.
func (r *run) execute(ctx context.Context, res *schema.Run) {
	r.tp = &topology{sc: r.sc, bin: r.bin, sup: r.sup, work: r.work, versions: res.Environment.Versions}
	if r.prefix != "" {
		if err := r.setupNetwork(); err != nil {
			res.Warnings = append(res.Warnings, "network namespaces: "+err.Error())
			r.failAll(res, "network namespaces: "+err.Error())
			return
		}
	} else if err := r.tp.startBackends(ctx); err != nil {
		res.Warnings = append(res.Warnings, "backends did not start: "+err.Error())
		r.failAll(res, "backends did not start: "+err.Error())
		return
	}
	us := units(r.sc, r.net != nil)
	targets := make([]*target, len(us))
	for i, u := range us {
		switch {
		case u.skip != "":
			targets[i] = &target{spec: u.spec, topology: u.spec.Topology, tls: u.spec.TLS, skipped: u.skip}
		case r.net != nil:
			targets[i] = r.tp.startInPods(ctx, u.index, u.spec)
		default:
			targets[i] = r.tp.start(ctx, u.spec, u.protocol)
		}
		targets[i].protocol = u.protocol
		switch t := targets[i]; {
		case t.skipped != "":
			res.Warnings = append(res.Warnings, fmt.Sprintf("target %s skipped: %s", t.spec.Name, t.skipped))
			fmt.Fprintf(r.log, "%s: skipped (%s)\n", t.spec.Name, t.skipped)
		case t.failed != "":
			res.Warnings = append(res.Warnings, fmt.Sprintf("target %s did not start: %s", t.spec.Name, t.failed))
			fmt.Fprintf(r.log, "%s: did not start: %s\n", t.spec.Name, t.failed)
		}
	}
	l := r.sc.Load
	total := 0
	for _, t := range targets {
		total += len(r.sc.RatesFor(t.protocol)) * l.Repetitions
	}
	seq := 0
	// Protocols alternate within each rate and repetition, as targets do,
	// so that their figures are measured minutes apart at most.
	for _, rate := range r.sc.StepRates() {
		for rep := 1; rep <= l.Repetitions; rep++ {
			for _, t := range targets {
				if !slices.Contains(r.sc.RatesFor(t.protocol), rate) {
					continue
				}
				seq++
				if ctx.Err() != nil {
					res.Warnings = appendOnce(res.Warnings, "run interrupted: later steps were not measured")
					return
				}
				if r.live {
					fmt.Fprintf(r.log, "[%d/%d] %-24s %7.0f req/s  rep %d  running (%v)…", seq, total, t.spec.Name, rate, rep, l.Warmup+l.Duration)
				}
				st := r.runStep(ctx, t, rate, rep, seq)
				res.Steps = append(res.Steps, st)
				if r.live {
					fmt.Fprint(r.log, "\r\033[K")
				}
				fmt.Fprintf(r.log, "[%d/%d] %s\n", seq, total, stepLine(&st))
			}
		}
	}
	var disturbed int
	for _, s := range res.Steps {
		if s.Busy.Disturbed {
			disturbed++
		}
	}
	if disturbed > 0 {
		res.Warnings = append(res.Warnings, fmt.Sprintf("%d of %d steps ran while other processes used more than %.0f %% of the CPUs (flagged disturbed)", disturbed, len(res.Steps), disturbedAbove))
	}
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// failAll records every step as failed when nothing could start.
func (r *run) failAll(res *schema.Run, why string) {
	us := units(r.sc, r.prefix != "")
	for _, rate := range r.sc.StepRates() {
		for rep := 1; rep <= r.sc.Load.Repetitions; rep++ {
			for _, u := range us {
				if !slices.Contains(r.sc.RatesFor(u.protocol), rate) {
					continue
				}
				t := &target{spec: u.spec, topology: u.spec.Topology, tls: u.spec.TLS, protocol: u.protocol}
				st := t.stepBase(rate, rep)
				st.Status, st.Error = "failed", why
				res.Steps = append(res.Steps, st)
			}
		}
	}
}

// unit is one target in one protocol: what the runner starts and measures.
// Its spec is the target's, named as its steps are (scenario.StepTarget),
// so that processes, configs and scratch files of the same target in two
// protocols never meet.
type unit struct {
	index    int // the target's index in the scenario (its pods, in netns mode)
	spec     scenario.Target
	protocol string
	skip     string // why its steps are skipped ("" when it runs)
}

// units lists every target in every protocol of sc, protocol by protocol.
// A target that cannot carry a protocol (scenario.Unsupported) is skipped
// in it, saying why; so is any protocol but HTTP/1.1 in netns mode, whose
// pods are checked and captured as HTTP/1.1.
func units(sc *scenario.Scenario, netnsMode bool) []unit {
	var out []unit
	for _, p := range sc.Protocol {
		for i, spec := range sc.Targets {
			u := unit{index: i, spec: spec, protocol: p}
			u.spec.Name = scenario.StepTarget(spec.Name, p)
			if why := scenario.Unsupported(spec, p); why != "" {
				u.skip = why
			} else if netnsMode && p != scenario.ProtocolHTTP1 {
				u.skip = "netns mode measures " + scenario.ProtocolHTTP1 + " only for now (" + p + " runs on loopback)"
			}
			out = append(out, u)
		}
	}
	return out
}

// addLatencyOverDirect is aggregate.AddLatencyOverDirect within each
// protocol: an h2 step is compared with the direct path over h2.
func addLatencyOverDirect(steps []schema.Step) {
	byProtocol := map[string][]int{}
	var order []string
	for i, s := range steps {
		if _, ok := byProtocol[s.Protocol]; !ok {
			order = append(order, s.Protocol)
		}
		byProtocol[s.Protocol] = append(byProtocol[s.Protocol], i)
	}
	for _, p := range order {
		idx := byProtocol[p]
		group := make([]schema.Step, len(idx))
		for j, i := range idx {
			group[j] = steps[i]
		}
		aggregate.AddLatencyOverDirect(group)
		for j, i := range idx {
			steps[i].AddedLatencyUS = group[j].AddedLatencyUS
		}
	}
}

// stepLine is the progress line of a finished step.
func stepLine(s *schema.Step) string {
	head := fmt.Sprintf("%-24s %7.0f req/s  rep %d  ", s.Target, s.Rate, s.Repetition)
	switch {
	case s.Status == "skipped":
		return head + "skipped: " + s.Error
	case s.Status != "ok" && s.Soak != nil:
		return head + "FAILED: " + s.Error + "\n    " + soakLine(s.Soak)
	case s.Status != "ok":
		return head + "FAILED: " + s.Error
	}
	l := s.Load
	line := head + fmt.Sprintf("achieved %8.1f  p50 %7.3f ms  p99 %7.3f ms  errors %d",
		l.AchievedRate, l.LatencyUS.P50/1000, l.LatencyUS.P99/1000, l.Errors)
	if r := l.SuccessRatio; r != nil && *r < 1 {
		// Below 100 % but above load.minSuccess: passed, and says so.
		line += "  success " + aggregate.Percent(*r)
	}
	if s.CPUPerRequestUS != nil {
		line += fmt.Sprintf("  cpu %.1f µs/req  rss %.1f MiB", *s.CPUPerRequestUS, *s.RSSMiB)
	}
	if s.Busy.Disturbed {
		line += fmt.Sprintf("  DISTURBED (others %.0f %%)", s.Busy.OtherCPUPercent)
	}
	if s.Split != nil {
		line += fmt.Sprintf("  split %v ok=%v", s.Split.Observed, s.Split.OK)
	}
	if s.Soak != nil {
		line += "\n    " + soakLine(s.Soak)
	}
	return line
}
