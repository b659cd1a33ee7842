package kube

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/meshbench/meshbench/results/aggregate"
	"github.com/meshbench/meshbench/results/schema"
	"github.com/meshbench/meshbench/scenarios/internal/scenario"
)

// Runner runs one command to completion within timeout and returns its
// standard output; the error quotes the end of its standard error.
type Runner interface {
	Run(ctx context.Context, argv []string, stdin string, timeout time.Duration) ([]byte, error)
}

// ExecRunner runs commands with os/exec.
type ExecRunner struct{}

// Run implements Runner.
func (ExecRunner) Run(ctx context.Context, argv []string, stdin string, timeout time.Duration) ([]byte, error) {
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	if err != nil {
		msg := strings.TrimSpace(tail(errb.String(), 8))
		if ctx.Err() == context.DeadlineExceeded {
			msg = "timed out after " + timeout.String() + "; " + msg
		}
		return out.Bytes(), fmt.Errorf("%s: %v: %s", strings.Join(argv[:min(len(argv), 4)], " "), err, msg)
	}
	return out.Bytes(), nil
}

func tail(s string, lines int) string {
	parts := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return strings.Join(parts, "\n")
}

// Executor runs a Plan and collects its result.
type Executor struct {
	Runner Runner
	Log    io.Writer // progress lines; nil: none
	// Work replaces $WORK in commands; MeshbenchPath replaces the plan's
	// meshbench program (this binary, for `meshbench certs`).
	Work          string
	MeshbenchPath string
	// Environment is the machine's description; its Versions get the
	// cluster's components too.
	Environment schema.Environment
	// Sleep and Now are time (tests replace them).
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
}

func (e *Executor) logf(format string, a ...any) {
	if e.Log != nil {
		fmt.Fprintf(e.Log, format+"\n", a...)
	}
}

func (e *Executor) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Executor) sleep(ctx context.Context, d time.Duration) error {
	if e.Sleep != nil {
		return e.Sleep(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (e *Executor) argv(p *Plan, argv []string) []string {
	out := make([]string, len(argv))
	for i, a := range argv {
		out[i] = strings.ReplaceAll(a, "$WORK", e.Work)
	}
	if len(out) > 0 && out[0] == p.Options.Meshbench && e.MeshbenchPath != "" {
		out[0] = e.MeshbenchPath
	}
	return out
}

func (e *Executor) run(ctx context.Context, p *Plan, argv []string, stdin string, timeout time.Duration) ([]byte, error) {
	return e.Runner.Run(ctx, e.argv(p, argv), stdin, timeout)
}

// Run executes p: setup, every step, and the cleanup on every exit path
// (with its own time budget, also after ctx is cancelled). It always
// returns a result: a setup that failed marks every step failed with the
// reason, and a step that failed says why in its error.
func (e *Executor) Run(ctx context.Context, p *Plan) *schema.Run {
	sc := p.Scenario
	started := e.now().UTC()
	env := e.Environment
	if env.Versions == nil {
		env.Versions = map[string]string{}
	}
	res := &schema.Run{
		Schema:      schema.Version,
		ID:          started.Format("20060102T150405Z") + "-" + sc.Name + "-kind",
		Started:     started,
		Mode:        "kind",
		Environment: env,
		Scenario:    schema.Scenario{Name: sc.Name, File: sc.File, Description: sc.Description},
		Steps:       []schema.Step{},
		Warnings:    append([]string{}, p.Warnings...),
	}
	if spec, err := sc.JSON(); err == nil {
		res.Scenario.Spec = json.RawMessage(spec)
	}
	res.Environment.Versions["meshbench-images"] = strings.Join([]string{p.Options.Images.Meshproxy, p.Options.Images.MeshproxyInit, p.Options.Images.Meshload, p.Options.Images.Echo}, " ")
	if p.Options.Meshes != nil {
		res.Environment.Versions["meshproxy-event-loops"] = strconv.Itoa(p.EventLoops)
	}

	defer func() {
		// Cleanup runs even when ctx was cancelled (an interrupt).
		cctx := context.WithoutCancel(ctx)
		for i := range p.Cleanup {
			a := &p.Cleanup[i]
			e.logf("cleanup: %s", a.Comment)
			if _, err := e.run(cctx, p, a.Argv, a.Stdin, a.Timeout); err != nil {
				res.Warnings = append(res.Warnings, "cleanup: "+err.Error())
			}
		}
		res.Finished = e.now().UTC()
		aggregate.AddLatencyOverDirect(res.Steps) // over the "none" namespace (kind direct)
		res.Summaries = aggregate.Summarize(res.Steps)
		res.SMP = aggregate.SMP(res.Steps, res.Summaries)
		if res.Summaries == nil {
			res.Summaries = []schema.Summary{}
		}
		if res.SMP == nil {
			res.SMP = []schema.SMPResult{}
		}
	}()

	for i := range p.Setup {
		a := &p.Setup[i]
		e.logf("setup: %s", a.Comment)
		if err := e.setupAction(ctx, p, a, res); err != nil {
			if a.Optional {
				res.Warnings = append(res.Warnings, a.Comment+": "+err.Error())
				continue
			}
			why := "setup failed (" + a.Comment + "): " + err.Error()
			res.Warnings = append(res.Warnings, why)
			e.logf("%s", why)
			for j := range p.Steps {
				st := stepBase(p.Steps[j].Step)
				st.Status, st.Error = "failed", why
				res.Steps = append(res.Steps, st)
			}
			return res
		}
	}
	few := false
	for i := range p.Steps {
		if ctx.Err() != nil {
			res.Warnings = append(res.Warnings, "run interrupted: later steps were not measured")
			break
		}
		st := e.runStep(ctx, p, p.Steps[i].Step, &few)
		res.Steps = append(res.Steps, st)
		e.logf("[%d/%d] %s", p.Steps[i].Step.Seq, p.Steps[i].Step.Total, stepLine(&st))
	}
	if few {
		res.Warnings = append(res.Warnings, fmt.Sprintf("some proxies had fewer than 3 Prometheus samples in a step's %s window "+
			"(cAdvisor figures are scraped every 5 s and refreshed by the kubelet about every 10 s): their CPU and memory are rough; "+
			"use a longer load.duration on kind", secs(sc.Load.Duration)))
	}
	return res
}

func (e *Executor) setupAction(ctx context.Context, p *Plan, a *Action, res *schema.Run) error {
	switch a.Kind {
	case ActSync:
		return e.sync(ctx, p, a.Sync)
	case ActRun:
		out, err := e.run(ctx, p, a.Argv, a.Stdin, a.Timeout)
		if err != nil {
			return err
		}
		if a.Version != "" {
			res.Environment.Versions[a.Version] = parseVersion(a.Version, out, a.VersionJSON)
		}
		if a.RoutesOf != "" {
			if msg := routesAccepted(a.RoutesOf, out); msg != "" {
				res.Warnings = append(res.Warnings, msg)
			} else {
				e.logf("%s accepted the scenario's HTTPRoutes", a.RoutesOf)
			}
		}
		return nil
	}
	return fmt.Errorf("action kind %d not allowed in setup", a.Kind)
}

// parseVersion turns a version command's output into the recorded string:
// /version's gitVersion, an image's tag, Linkerd's "linkerd/cli VERSION".
func parseVersion(name string, out []byte, isJSON bool) string {
	s := strings.TrimSpace(string(out))
	if isJSON {
		var v struct {
			GitVersion string `json:"gitVersion"`
		}
		if json.Unmarshal(out, &v) == nil && v.GitVersion != "" {
			return v.GitVersion
		}
		return s
	}
	if name == "linkerd" {
		if f := strings.Fields(s); len(f) > 0 {
			return f[len(f)-1]
		}
	}
	if i := strings.LastIndexByte(s, ':'); i > strings.LastIndexByte(s, '/') && i >= 0 {
		return s[i+1:]
	}
	return s
}

// routesAccepted reads `kubectl get httproutes -o json` and says which
// routes the mesh's controller did not accept ("" when all were).
func routesAccepted(mesh string, out []byte) string {
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Status struct {
				Parents []struct {
					ControllerName string `json:"controllerName"`
					Conditions     []struct {
						Type, Status, Reason, Message string
					} `json:"conditions"`
				} `json:"parents"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(out, &list); err != nil {
		return fmt.Sprintf("%s: HTTPRoute status unreadable: %v", mesh, err)
	}
	domain := map[string]string{MeshIstio: "istio.io", MeshLinkerd: "linkerd.io"}[mesh]
	var bad []string
	for _, r := range list.Items {
		ok, why := false, "no status from "+domain
		for _, pa := range r.Status.Parents {
			if !strings.Contains(pa.ControllerName, domain) {
				continue
			}
			for _, c := range pa.Conditions {
				if c.Type == "Accepted" {
					ok = c.Status == "True"
					why = strings.TrimSpace(c.Reason + " " + c.Message)
				}
			}
		}
		if !ok {
			bad = append(bad, r.Metadata.Name+" ("+why+")")
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return fmt.Sprintf("%s did not accept HTTPRoute %s: its steps may not route as the other meshes do", mesh, strings.Join(bad, ", "))
}

// sync writes meshproxy's ConfigMap from the namespace's live objects.
func (e *Executor) sync(ctx context.Context, p *Plan, s *SyncSpec) error {
	deadline := e.now().Add(s.Timeout)
	for {
		out, err := e.run(ctx, p, p.Options.kubectl("get", "services,endpointslices", "-n", s.Namespace, "-o", "json"), "", 30*time.Second)
		if err != nil {
			return err
		}
		cfg, ready, err := MeshproxyConfig(s.Namespace, p.Scenario, s.EventLoops, out)
		if err != nil {
			return err
		}
		var missing []string
		if s.WantReady {
			for _, b := range p.Scenario.Backends {
				if ready[b.Name] < b.Replicas {
					missing = append(missing, fmt.Sprintf("%s %d/%d", b.Name, ready[b.Name], b.Replicas))
				}
			}
		}
		if len(missing) == 0 {
			_, err := e.run(ctx, p, p.Options.kubectl("apply", "-f", "-"), mustRender(ConfigMapObject(s.Namespace, cfg)), time.Minute)
			return err
		}
		if e.now().After(deadline) {
			return fmt.Errorf("ready endpoints after %s: %s", s.Timeout, strings.Join(missing, ", "))
		}
		if err := e.sleep(ctx, 2*time.Second); err != nil {
			return err
		}
	}
}

// stepBase is the static part of a step's result. Every step on kind is
// HTTP/1.1 (BuildPlan).
func stepBase(s *StepSpec) schema.Step {
	return schema.Step{
		Target: s.Target, Kind: s.Kind, Topology: s.Topology, TLS: s.TLS, Protocol: scenario.ProtocolHTTP1,
		Rate: s.Rate, Repetition: s.Rep, Proxies: []schema.Proxy{},
	}
}

// runStep measures one step; its Job is deleted on every path.
func (e *Executor) runStep(ctx context.Context, p *Plan, s *StepSpec, few *bool) schema.Step {
	o := p.Options
	st := stepBase(s)
	st.Started = e.now().UTC()
	fail := func(format string, a ...any) schema.Step {
		st.Status, st.Error = "failed", fmt.Sprintf(format, a...)
		st.DurationS = e.now().Sub(st.Started).Seconds()
		return st
	}
	if _, err := e.run(ctx, p, s.applyArgv(o), s.Manifest, time.Minute); err != nil {
		return fail("creating Job %s: %v", s.Job, err)
	}
	defer func() {
		if _, err := e.run(context.WithoutCancel(ctx), p, s.deleteArgv(o), "", 150*time.Second); err != nil {
			e.logf("deleting Job %s: %v", s.Job, err)
		}
	}()
	cond, err := e.waitJob(ctx, p, s)
	if err != nil {
		return fail("Job %s: %v", s.Job, err)
	}
	logs, lerr := e.run(ctx, p, s.logsArgv(o), "", time.Minute)
	if cond != "Complete" {
		status, _ := e.run(ctx, p, s.statusArgv(o), "", 30*time.Second)
		return fail("Job %s failed (status %s); meshload's log ends:\n%s", s.Job, strings.TrimSpace(string(status)), tail(string(logs), 10))
	}
	if lerr != nil {
		return fail("meshload's output: %v", lerr)
	}
	lj, spectrum, err := parseMeshloadLog(logs)
	if err != nil {
		return fail("meshload's output: %v; it ends:\n%s", err, tail(string(logs), 10))
	}
	st.Load = lj.Load(spectrum)
	end := lj.Start.Add(time.Duration(lj.DurationS * float64(time.Second)))
	if err := e.sleep(ctx, o.ScrapeSettle); err != nil {
		return fail("interrupted")
	}
	if err := e.readFigures(ctx, p, s, end, &st, few); err != nil {
		st.Load.Warnings = append(st.Load.Warnings, "proxy figures: "+err.Error())
	}
	st.DurationS = e.now().Sub(st.Started).Seconds()
	// A failed step keeps its Load, so the result shows what happened;
	// summaries leave its latency out.
	if ok, why := aggregate.Verdict(st.Load, float64(p.Scenario.Load.MinSuccess)); !ok {
		st.Status, st.Error = "failed", why
		return st
	}
	st.Status = "ok"
	return st
}

// waitJob waits for the Job to complete or fail, whichever comes first
// (two kubectl waits at once; the first to return ends the other).
func (e *Executor) waitJob(ctx context.Context, p *Plan, s *StepSpec) (string, error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		cond string
		err  error
	}
	ch := make(chan result, 2)
	for _, cond := range []string{"Complete", "Failed"} {
		go func() {
			_, err := e.run(wctx, p, s.waitArgv(p.Options, cond), "", s.WaitTimeout+10*time.Second)
			ch <- result{cond, err}
		}()
	}
	// Both waits are collected before returning, the loser after cancel:
	// a kubectl still running behind the caller's back would race with
	// whatever the caller runs next.
	var errs []error
	won := ""
	for range 2 {
		r := <-ch
		if r.err == nil && won == "" {
			won = r.cond
			cancel()
			continue
		}
		errs = append(errs, r.err)
	}
	if won != "" {
		return won, nil
	}
	return "", fmt.Errorf("neither complete nor failed: %w", errors.Join(errs...))
}

// parseMeshloadLog reads `meshload -json - -hgrm -` output as kubectl logs
// shows it: anything meshload wrote to stderr before, the JSON object
// (from the first line that starts with "{"), then the percentile
// distribution.
func parseMeshloadLog(logs []byte) (aggregate.Meshload, []schema.Percentile, error) {
	var lj aggregate.Meshload
	i := bytes.Index(logs, []byte("\n{"))
	switch {
	case bytes.HasPrefix(logs, []byte("{")):
		i = 0
	case i >= 0:
		i++
	default:
		return lj, nil, errors.New("no -json object")
	}
	dec := json.NewDecoder(bytes.NewReader(logs[i:]))
	if err := dec.Decode(&lj); err != nil {
		return lj, nil, fmt.Errorf("-json object: %w", err)
	}
	rest := logs[i+int(dec.InputOffset()):]
	return lj, aggregate.Spectrum(rest), nil
}

// promResult is one sample of an instant query.
type promResult struct {
	labels map[string]string
	value  float64
}

// parseProm reads a Prometheus /api/v1/query response (a vector).
func parseProm(out []byte) ([]promResult, error) {
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  []any             `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("Prometheus answer: %w", err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("Prometheus: %s %s", r.Status, r.Error)
	}
	if r.Data.ResultType != "vector" {
		return nil, fmt.Errorf("Prometheus: result type %q, want vector", r.Data.ResultType)
	}
	var res []promResult
	for _, s := range r.Data.Result {
		if len(s.Value) != 2 {
			continue
		}
		str, _ := s.Value[1].(string)
		v, err := strconv.ParseFloat(str, 64)
		if err != nil {
			return nil, fmt.Errorf("Prometheus: sample value %q", str)
		}
		res = append(res, promResult{labels: s.Metric, value: v})
	}
	return res, nil
}

// proxyName names a proxy container by its pod: the step's meshload pod
// holds the client sidecar, the path backends' pods the server sidecars
// (other backends' proxies are idle and left out), ztunnel and waypoint
// pods are Istio ambient's proxies. "" drops the container.
func proxyName(s *StepSpec, pod string) string {
	switch {
	case strings.HasPrefix(pod, s.Job+"-"):
		return "client-sidecar"
	case strings.HasPrefix(pod, "ztunnel-"):
		return "ztunnel/" + pod
	case strings.HasPrefix(pod, "waypoint-"):
		return "waypoint/" + pod
	}
	for _, b := range s.PathBackends {
		if ok, _ := regexp.MatchString("^"+regexp.QuoteMeta(b)+"-[a-z0-9]{1,10}-[a-z0-9]{5}$", pod); ok {
			return "server-sidecar/" + pod
		}
	}
	return ""
}

// readFigures fills a step's proxies, CPU per request, memory and busy
// figures from Prometheus at the end of the measured window.
func (e *Executor) readFigures(ctx context.Context, p *Plan, s *StepSpec, end time.Time, st *schema.Step, few *bool) error {
	o := p.Options
	at := strconv.FormatFloat(float64(end.UnixMilli())/1000, 'f', 3, 64)
	type acc struct {
		cpu, memMax, memAvg, samples float64
	}
	proxies := map[string]*acc{}
	scalar := map[string]float64{}
	var errs []error
	for _, q := range s.Queries(o) {
		out, err := e.run(ctx, p, o.promArgv(q.PromQL, at), "", 30*time.Second)
		if err == nil {
			var rs []promResult
			rs, err = parseProm(out)
			for _, r := range rs {
				base := strings.TrimRight(q.Name, "0123456789")
				switch base {
				case "node_cpu", "ns_cpu", "cores":
					scalar[base] += r.value
					continue
				}
				name := proxyName(s, r.labels["pod"])
				if name == "" {
					continue
				}
				a := proxies[name]
				if a == nil {
					a = &acc{}
					proxies[name] = a
				}
				switch base {
				case "cpu":
					a.cpu += r.value
				case "mem_max":
					a.memMax += r.value
				case "mem_avg":
					a.memAvg += r.value
				case "samples":
					a.samples = max(a.samples, r.value)
				}
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", q.Name, err))
		}
	}
	names := make([]string, 0, len(proxies))
	for n := range proxies {
		names = append(names, n)
	}
	sort.Strings(names)
	const mib = 1 << 20
	var cpu, rss float64
	for _, n := range names {
		a := proxies[n]
		st.Proxies = append(st.Proxies, schema.Proxy{
			Name: n, PIDs: []int{}, Samples: int(a.samples),
			RSSMiB: round(a.memMax/mib, 2), RSSAvgMiB: round(a.memAvg/mib, 2), HWMMiB: round(a.memMax/mib, 2),
			CPUS: round(a.cpu, 4),
		})
		cpu += a.cpu
		rss += a.memMax / mib
		if a.samples < 3 {
			*few = true
		}
	}
	handled := float64(st.Load.Requests + st.Load.Errors)
	if len(names) > 0 && handled > 0 {
		perReq := round(cpu*1e6/handled, 3)
		rss = round(rss, 2)
		st.CPUPerRequestUS, st.RSSMiB = &perReq, &rss
	}
	if s.Mesh != MeshNone && len(names) == 0 && len(errs) == 0 {
		errs = append(errs, errors.New("Prometheus had no proxy container in the window"))
	}
	if cores := scalar["cores"]; cores > 0 && scalar["node_cpu"] > 0 {
		other := (scalar["node_cpu"] - scalar["ns_cpu"]) / (s.Duration.Seconds() * cores) * 100
		st.Busy.OtherCPUPercent = round(max(other, 0), 1)
		st.Busy.Disturbed = st.Busy.OtherCPUPercent > disturbedAbove
	}
	return errors.Join(errs...)
}

// disturbedAbove is the loopback runner's threshold (percent of all
// cores used by others), applied to the cluster's nodes: every container
// outside the step's namespace, the control planes included.
const disturbedAbove = 15.0

// stepLine is the progress line of a finished step.
func stepLine(s *schema.Step) string {
	head := fmt.Sprintf("%-10s %7.0f req/s  rep %d  ", s.Target, s.Rate, s.Repetition)
	if s.Status != "ok" {
		return head + "FAILED: " + s.Error
	}
	l := s.Load
	line := head + fmt.Sprintf("achieved %8.1f  p50 %7.3f ms  p99 %7.3f ms  errors %d",
		l.AchievedRate, l.LatencyUS.P50/1000, l.LatencyUS.P99/1000, l.Errors)
	if s.CPUPerRequestUS != nil {
		line += fmt.Sprintf("  cpu %.1f µs/req  mem %.1f MiB", *s.CPUPerRequestUS, *s.RSSMiB)
	}
	return line
}
