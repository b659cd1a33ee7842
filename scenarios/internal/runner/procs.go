package runner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/meshbench/meshbench/scenarios/internal/cpus"
	"github.com/meshbench/meshbench/scenarios/internal/scenario"
)

// supervisor owns every process a run starts. Each runs in its own process
// group (so nginx's workers go with their master) with SIGKILL as its
// parent-death signal (so a runner killed with SIGKILL does not leave them
// behind), and stopAll ends them all on every exit path.
type supervisor struct {
	dir string  // logs go to dir/NAME.log
	pin cpuPlan // the scenario's CPU lists per role

	mu    sync.Mutex
	procs []*process
}

type process struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done

	argv []string // as started, for a restart (soak kills)
	env  []string
	role role
}

func (p *process) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Roles of the processes a run starts, for CPU pinning.
type role int

const (
	roleTool   role = iota // one-off helpers (certificates): never pinned
	roleLoad               // meshload
	roleTarget             // what is measured: echo backends, proxies, peers
)

// cpuPlan is Scenario.CPUs parsed: the CPUs each role is pinned to (none:
// not pinned).
type cpuPlan struct{ load, targets []int }

func (p cpuPlan) of(r role) []int {
	switch r {
	case roleLoad:
		return p.load
	case roleTarget:
		return p.targets
	}
	return nil
}

// pinning parses sc.CPUs and checks that the runner may use every CPU it
// names, before anything starts.
func pinning(sc *scenario.Scenario) (cpuPlan, error) {
	var plan cpuPlan
	if sc.CPUs.Load == "" && sc.CPUs.Targets == "" {
		return plan, nil
	}
	allowed, err := cpus.Allowed()
	if err != nil {
		return plan, err
	}
	for _, f := range []struct {
		path, list string
		into       *[]int
	}{{"cpus.load", sc.CPUs.Load, &plan.load}, {"cpus.targets", sc.CPUs.Targets, &plan.targets}} {
		if f.list == "" {
			continue
		}
		l, err := cpus.Parse(f.list)
		if err == nil {
			err = cpus.Check(f.path, l, allowed)
		}
		if err != nil {
			return plan, err
		}
		*f.into = l
	}
	return plan, nil
}

// start runs argv in the background, its output in dir/name.log, pinned to
// the CPUs of its role.
func (s *supervisor) start(name string, r role, argv []string, env []string) (*process, error) {
	logPath := filepath.Join(s.dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cpus.Start(cmd, s.pin.of(r)); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, strings.Join(argv, " "), err)
	}
	p := &process{name: name, cmd: cmd, log: logPath, done: make(chan struct{}), argv: argv, env: env, role: r}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	return p, nil
}

// pids are the root pids of the live processes.
func (s *supervisor) pids() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var pids []int
	for _, p := range s.procs {
		if ok, _ := p.exited(); !ok {
			pids = append(pids, p.pid())
		}
	}
	return pids
}

// kill ends p's process group at once with SIGKILL (a pod lost), waits
// for it, and forgets it: its pid may be reused, so stopAll must not
// signal it again.
func (s *supervisor) kill(p *process) {
	_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
	<-p.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.procs {
		if q == p {
			s.procs = append(s.procs[:i], s.procs[i+1:]...)
			break
		}
	}
}

// restart starts p's command line again (same role, same CPUs) as name.
func (s *supervisor) restart(p *process, name string) (*process, error) {
	return s.start(name, p.role, p.argv, p.env)
}

// stopAll sends SIGTERM to every process group, waits up to grace for them
// to exit, then SIGKILLs what is left. It is safe to call more than once.
func (s *supervisor) stopAll(grace time.Duration) {
	s.mu.Lock()
	procs := s.procs
	s.procs = nil
	s.mu.Unlock()
	for _, p := range procs {
		_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	}
	deadline := time.After(grace)
	for _, p := range procs {
		select {
		case <-p.done:
		case <-deadline:
		}
	}
	for _, p := range procs {
		// The group too: a master that exited can leave workers behind.
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

// tail returns the last lines of a process's log, for error messages.
func tail(path string, lines int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, "\n")
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before ours binds; the readiness wait then fails with the
// process's own error.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitReady polls until check succeeds, the process exits, or timeout.
func waitReady(ctx context.Context, p *process, timeout time.Duration, what string, check func() error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if last = check(); last == nil {
			return nil
		}
		if done, err := p.exited(); done {
			return fmt.Errorf("%s exited before it was ready (%v); its log ends:\n%s", p.name, err, tail(p.log, 10))
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("%s not ready after %v: %s: %v; its log ends:\n%s", p.name, timeout, what, last, tail(p.log, 10))
			}
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func tcpCheck(addr string) func() error {
	return func() error {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return err
		}
		return c.Close()
	}
}

func httpCheck(url string) func() error {
	client := &http.Client{Timeout: 500 * time.Millisecond}
	return func() error {
		resp, err := client.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}
