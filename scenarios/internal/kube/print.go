package kube

import (
	"fmt"
	"io"
	"strings"
)

// Print writes the plan as the commands the executor would run, in order,
// each manifest as a here-document: what -dry-run shows. Placeholders
// stand for what only a run knows: $WORK (its scratch directory) and
// $STEP_END (the end of a step's measured window, Unix seconds, from
// meshload's JSON).
func Print(w io.Writer, p *Plan) error {
	pw := &printer{w: w}
	sc := p.Scenario
	pw.f("# meshbench run -target kind -dry-run %s\n", sc.File)
	pw.f("# scenario %s: %s\n", sc.Name, sc.Description)
	pw.f("# meshes: %s; namespaces %s<mesh>; %d steps\n", strings.Join(p.Options.Meshes, ", "), p.Options.NamespacePrefix, len(p.Steps))
	for _, warning := range p.Warnings {
		pw.f("# note: %s\n", warning)
	}
	pw.section("setup")
	for i := range p.Setup {
		pw.action(p, &p.Setup[i])
	}
	pw.section("steps")
	for i := range p.Steps {
		pw.action(p, &p.Steps[i])
	}
	pw.section("cleanup (also after a failure or an interrupt)")
	for i := range p.Cleanup {
		pw.action(p, &p.Cleanup[i])
	}
	pw.f("# then: the result file (mode kind) in the -o directory\n")
	return pw.err
}

type printer struct {
	w   io.Writer
	err error
}

func (pw *printer) f(format string, a ...any) {
	if pw.err == nil {
		_, pw.err = fmt.Fprintf(pw.w, format, a...)
	}
}

func (pw *printer) section(name string) { pw.f("\n### %s\n", name) }

// cmd prints one command, quoted for a POSIX shell, with its stdin as a
// here-document.
func (pw *printer) cmd(argv []string, stdin string) {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	if stdin == "" {
		pw.f("%s\n", strings.Join(q, " "))
		return
	}
	pw.f("%s <<'EOF'\n%sEOF\n", strings.Join(q, " "), stdin)
}

func (pw *printer) action(p *Plan, a *Action) {
	o := p.Options
	pw.f("\n# %s\n", a.Comment)
	switch a.Kind {
	case ActRun:
		pw.cmd(a.Argv, a.Stdin)
	case ActSync:
		s := a.Sync
		pw.cmd(o.kubectl("get", "services,endpointslices", "-n", s.Namespace, "-o", "json"), "")
		if s.WantReady {
			pw.f("# (repeated, for at most %s, until every backend lists as many ready endpoints as replicas)\n", secs(s.Timeout))
		}
		cfg, _, err := MeshproxyConfig(s.Namespace, p.Scenario, s.EventLoops, nil)
		if err != nil {
			pw.err = err
			return
		}
		pw.f("# config.yaml gets, after the Proxy document, every Service above (cluster IP, ports, and the\n" +
			"# SPIFFE ID of its pods as meshbench.dev/identity) and its ready endpoints as EndpointSlices\n")
		pw.cmd(o.kubectl("apply", "-f", "-"), mustRender(ConfigMapObject(s.Namespace, cfg)))
	case ActStep:
		s := a.Step
		pw.cmd(s.applyArgv(o), s.Manifest)
		pw.f("# wait for whichever comes first:\n")
		pw.cmd(s.waitArgv(o, "Complete"), "")
		pw.cmd(s.waitArgv(o, "Failed"), "")
		pw.f("# meshload's -json object, then its -hgrm percentile distribution:\n")
		pw.cmd(s.logsArgv(o), "")
		pw.f("# on failure, the Job's status goes into the step's error:\n")
		pw.cmd(s.statusArgv(o), "")
		pw.f("# sleep %s: Prometheus scrapes the step's last samples\n", secs(o.ScrapeSettle))
		for _, q := range s.Queries(o) {
			pw.f("# %s: %s\n", q.Name, q.PromQL)
			pw.cmd(o.promArgv(q.PromQL, "$STEP_END"), "")
		}
		pw.cmd(s.deleteArgv(o), "")
	}
}

// shellQuote quotes s for a POSIX shell when it needs it; $WORK and
// $STEP_END stay expandable.
func shellQuote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, c := range strings.ReplaceAll(s, "$WORK", "") {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("-_./=:,@%+", c)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	if strings.HasSuffix(s, "&time=$STEP_END") {
		return "'" + strings.ReplaceAll(strings.TrimSuffix(s, "$STEP_END"), "'", `'\''`) + "'\"$STEP_END\""
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
