package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/meshbench/meshbench/results/aggregate"
	"github.com/meshbench/meshbench/results/schema"
	"github.com/meshbench/meshbench/scenarios/internal/procstat"
	"github.com/meshbench/meshbench/scenarios/internal/scenario"
)

// disturbedAbove is the share of all CPUs (percent) that processes outside
// the run may use during a step before the step is flagged as disturbed. On
// the 2-vCPU VM this was written on, steps with nothing else running measure
// 0-13 % (time the kernel does not charge to any process), so 15 % flags
// real interference without flagging every quiet step.
const disturbedAbove = 15.0

// sampleEvery is the /proc sampling period (10 Hz).
const sampleEvery = 100 * time.Millisecond

// runStep measures target t at one rate in one repetition.
func (r *run) runStep(ctx context.Context, t *target, rate float64, rep, seq int) schema.Step {
	st := t.stepBase(rate, rep)
	st.Started = time.Now().UTC()
	fail := func(format string, a ...any) schema.Step {
		st.Status, st.Error = "failed", fmt.Sprintf(format, a...)
		return st
	}
	switch {
	case t.skipped != "":
		st.Status, st.Error = "skipped", t.skipped
		return st
	case t.failed != "":
		return fail("%s", t.failed)
	}
	for _, p := range t.proxies {
		if done, err := p.exited(); done {
			return fail("%s exited (%v); its log ends:\n%s", p.name, err, tail(p.log, 10))
		}
	}
	before, err := r.splitCounts(t)
	if err != nil {
		return fail("split counts: %v", err)
	}

	l := r.sc.Load
	base := filepath.Join(r.work, fmt.Sprintf("step-%03d-%s", seq, t.spec.Name))
	argv := r.meshloadArgv(t, rate, base)
	if t.launch != nil {
		argv = t.launch(argv)
	}
	ml, err := r.sup.start(filepath.Base(base)+"-meshload", roleLoad, argv, nil)
	if err != nil {
		return fail("%v", err)
	}
	// Sample the proxies over the measured part only: from the end of the
	// warm-up to meshload's exit.
	select {
	case <-ctx.Done():
		return fail("interrupted")
	case <-ml.done:
	case <-time.After(l.Warmup):
	}
	sampler, err := procstat.Start(t.groups(), r.sup.pids(), sampleEvery)
	if err != nil {
		return fail("sampling /proc: %v", err)
	}
	// A soak's disturbances run over the measured part, so that every
	// failure they cause is in meshload's counts.
	var sk *soak
	if r.sc.Soak.Enabled() {
		sk = r.startSoak(t)
	}
	select {
	case <-ctx.Done():
		sampler.Stop()
		if sk != nil {
			st.Soak = sk.stop()
		}
		return fail("interrupted")
	case <-ml.done:
	}
	if sk != nil {
		st.Soak = sk.stop()
	}
	sample := sampler.Stop()
	st.DurationS = time.Since(st.Started).Seconds()
	if ml.err != nil {
		return fail("meshload: %v; its output ends:\n%s", ml.err, tail(ml.log, 10))
	}
	var lj aggregate.Meshload
	if err := readJSON(base+".json", &lj); err != nil {
		return fail("meshload result: %v", err)
	}
	// What meshload says it spoke is what the step records: a step that
	// measured HTTP/1.1 must not pass for h2.
	var spoke struct {
		Protocol string `json:"protocol"`
	}
	if err := readJSON(base+".json", &spoke); err != nil {
		return fail("meshload result: %v", err)
	}
	if spoke.Protocol != t.protocol {
		return fail("meshload spoke %q, the step is %s", spoke.Protocol, t.protocol)
	}
	spectrum, err := readSpectrum(base + ".hgrm")
	if err != nil {
		return fail("meshload percentile distribution: %v", err)
	}
	st.Load = lj.Load(spectrum)
	handled := float64(lj.Requests + lj.Errors)
	var cpu, rss float64
	for i, g := range sample.Groups {
		st.Proxies = append(st.Proxies, schema.Proxy{
			Name: t.names[i], PIDs: g.PIDs, Samples: g.Samples, RSSMiB: g.RSSPeakMiB,
			RSSAvgMiB: g.RSSAvgMiB, HWMMiB: g.HWMMiB, CPUS: g.CPUSeconds,
		})
		cpu += g.CPUSeconds
		rss += g.RSSPeakMiB
	}
	if len(sample.Groups) > 0 && handled > 0 {
		perReq := cpu * 1e6 / handled
		st.CPUPerRequestUS, st.RSSMiB = &perReq, &rss
	}
	st.Busy = schema.Busy{OtherCPUPercent: round(sample.Busy.OtherCPUPercent, 1)}
	st.Busy.Disturbed = st.Busy.OtherCPUPercent > disturbedAbove
	if len(t.spec.Split) > 0 {
		after, err := r.splitCounts(t)
		if err != nil {
			return fail("split counts: %v", err)
		}
		st.Split = checkSplit(t.spec.Split, t.spec.Tolerance, before, after)
	}
	if st.Soak != nil {
		// A soak allows the failures its kills may cost (its budget), not
		// load.minSuccess; a step without responses still fails.
		aggregate.JudgeSoak(st.Soak, st.Load)
		if ok, why := aggregate.Verdict(st.Load, 0); !ok {
			st.Status, st.Error = "failed", why
			return st
		}
		if !st.Soak.OK {
			st.Status, st.Error = "failed", "soak: "+strings.Join(st.Soak.Reasons, "; ")
			return st
		}
		st.Status = "ok"
		return st
	}
	// A failed step keeps its Load, so the result shows what happened;
	// summaries leave its latency out.
	if ok, why := aggregate.Verdict(st.Load, float64(r.sc.Load.MinSuccess)); !ok {
		st.Status, st.Error = "failed", why
		return st
	}
	st.Status = "ok"
	return st
}

// meshloadArgv is the load generator's command line for a step of t at
// rate, its outputs written to base.json and base.hgrm.
func (r *run) meshloadArgv(t *target, rate float64, base string) []string {
	l := r.sc.Load
	argv := []string{r.bin.Meshload, "-quiet",
		"-rate", strconv.FormatFloat(rate, 'f', -1, 64),
		"-c", strconv.Itoa(l.Connections), "-d", l.Duration.String(), "-warmup", l.Warmup.String(),
		"-timeout", l.Timeout.String(), "-H", "Host: " + t.host,
		"-json", base + ".json", "-hgrm", base + ".hgrm",
		// The step's verdict (aggregate.Verdict against load.minSuccess)
		// decides about failed requests, not meshload's exit code: one
		// policy, in one place.
		"-max-failure-ratio", "1"}
	switch t.protocol {
	case scenario.ProtocolH2:
		argv = append(argv, "-http2") // h2c with prior knowledge: the URL is http://
	case scenario.ProtocolGRPC:
		// The echo answers with the request message: load.payload bytes
		// each way (validation keeps load.requestBody 0).
		argv = append(argv, "-grpc", "-grpc-method", scenario.GRPCMethod, "-body-size", strconv.Itoa(l.Payload))
	}
	if t.protocol != scenario.ProtocolHTTP1 && l.Streams > 1 {
		argv = append(argv, "-streams", strconv.Itoa(l.Streams))
	}
	if l.RequestBody > 0 && t.protocol != scenario.ProtocolGRPC {
		argv = append(argv, "-method", "POST", "-body-size", strconv.Itoa(l.RequestBody))
	}
	if r.sc.Soak.Enabled() {
		argv = append(argv, "-H", soakHeader+": 1") // what the soak route's odd generations match
	}
	return append(argv, t.url)
}

func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// readSpectrum reads meshload's -hgrm file (see aggregate.Spectrum).
func readSpectrum(path string) ([]schema.Percentile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return aggregate.Spectrum(b), nil
}

// splitCounts reads every echo replica's request counter, summed by
// backend, for the backends a split target checks.
func (r *run) splitCounts(t *target) (map[string]uint64, error) {
	if len(t.spec.Split) == 0 {
		return nil, nil
	}
	client := t.stats
	if client == nil {
		client = &http.Client{Timeout: 2 * time.Second}
	}
	counts := map[string]uint64{}
	for backend := range t.spec.Split {
		for _, e := range t.echoes[backend] {
			addr := e.addr
			if e.local != "" {
				addr = e.local
			}
			resp, err := client.Get("http://" + addr + "/stats")
			if err != nil {
				return nil, err
			}
			var s struct {
				Requests uint64 `json:"requests"`
			}
			err = json.NewDecoder(resp.Body).Decode(&s)
			resp.Body.Close()
			if err != nil {
				return nil, fmt.Errorf("%s/stats: %w", addr, err)
			}
			counts[backend] += s.Requests
		}
	}
	return counts, nil
}

// checkSplit compares the shares each backend served during the step with
// the expected ones.
func checkSplit(expected map[string]float64, tol float64, before, after map[string]uint64) *schema.Split {
	if tol == 0 {
		tol = 0.02
	}
	sp := &schema.Split{Expected: expected, Counts: map[string]uint64{}, Observed: map[string]float64{}, OK: true}
	var total uint64
	for b := range expected {
		n := after[b] - before[b]
		sp.Counts[b] = n
		total += n
	}
	if total == 0 {
		sp.OK, sp.Note = false, "no backend counted a request"
		return sp
	}
	for b, want := range expected {
		got := float64(sp.Counts[b]) / float64(total)
		sp.Observed[b] = round(got, 4)
		if math.Abs(got-want) > tol {
			sp.OK = false
			sp.Note += fmt.Sprintf("%s served %.2f %%, expected %.2f %% ± %.2f; ", b, 100*got, 100*want, 100*tol)
		}
	}
	sp.Note = strings.TrimSuffix(sp.Note, "; ")
	return sp
}
