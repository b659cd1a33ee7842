package kubecheck

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	kindv1alpha4 "sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/meshbench/meshbench/internal/testenv"
)

const root = "../.."

func read(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// versions reads scripts/kind/versions.sh's NAME=value lines.
func versions(t *testing.T) map[string]string {
	t.Helper()
	v := map[string]string{}
	re := regexp.MustCompile(`^([A-Z0-9_]+)=([^ #]*)`)
	sc := bufio.NewScanner(strings.NewReader(string(read(t, "scripts/kind/versions.sh"))))
	for sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			v[m[1]] = m[2]
		}
	}
	return v
}

func TestDecodeRejects(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field":      "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {portz: []}\n",
		"wrong type":         "apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: 3}\n",
		"duplicate key":      "apiVersion: v1\nkind: Service\nmetadata: {name: a, name: b}\n",
		"unknown kind":       "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n",
		"no name":            "apiVersion: v1\nkind: Namespace\nmetadata: {}\n",
		"httproute typo":     "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r}\nspec: {rules: [{backendRef: []}]}\n",
		"kind config typo":   "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nnodes: [{role: worker, label: {a: b}}]\n",
		"deployment typo":    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: c, imagePullPolicy: Never, args: [], resource: {}}]}}}\n",
		"job in core group":  "apiVersion: v1\nkind: Job\nmetadata: {name: j}\n",
		"gateway in v1beta9": "apiVersion: gateway.networking.k8s.io/v1beta9\nkind: Gateway\nmetadata: {name: g}\n",
	} {
		if _, err := Decode([]byte(doc)); err == nil {
			t.Errorf("%s: accepted:\n%s", name, doc)
		}
	}
}

func TestSplit(t *testing.T) {
	docs := Split([]byte("# c\n---\na: 1\n---\n# only a comment\n---\nb: |\n  ---\n  x\n"))
	if len(docs) != 2 || !strings.Contains(string(docs[1]), "  ---") {
		t.Fatalf("Split = %q", docs)
	}
}

// TestPrometheusManifest: deploy/prometheus decodes strictly, and its image
// is the one scripts/kind pins.
func TestPrometheusManifest(t *testing.T) {
	docs, err := DecodeAll(read(t, "deploy/prometheus/prometheus.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 6 {
		t.Errorf("%d documents, want 6", len(docs))
	}
	for _, d := range docs {
		if dep, ok := d.Value.(*appsv1.Deployment); ok {
			if img, want := dep.Spec.Template.Spec.Containers[0].Image, versions(t)["PROMETHEUS_IMAGE"]; img != want {
				t.Errorf("prometheus image %q, versions.sh pins %q", img, want)
			}
		}
	}
}

// TestKindConfig: the cluster config decodes into kind's own v1alpha4
// types, has one control plane and a load and a server worker, and every
// node uses the pinned image.
func TestKindConfig(t *testing.T) {
	docs, err := DecodeAll(read(t, "scripts/kind/kind-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	c := docs[0].Value.(*kindv1alpha4.Cluster)
	roles := map[string]int{}
	v := versions(t)
	for _, n := range c.Nodes {
		roles[string(n.Role)+"/"+n.Labels["meshbench.dev/role"]]++
		if n.Image != v["KIND_NODE_IMAGE"] {
			t.Errorf("node image %q, versions.sh pins %q", n.Image, v["KIND_NODE_IMAGE"])
		}
	}
	if want := map[string]int{"control-plane/": 1, "worker/load": 1, "worker/server": 1}; len(roles) != 3 ||
		roles["control-plane/"] != 1 || roles["worker/load"] != 1 || roles["worker/server"] != 1 {
		t.Errorf("nodes %v, want %v", roles, want)
	}
	if c.Name != v["KIND_CLUSTER"] && !strings.Contains(v["KIND_CLUSTER"], c.Name) {
		t.Errorf("cluster name %q, versions.sh %q", c.Name, v["KIND_CLUSTER"])
	}
}

// TestVersionsPinned: every download has a 64-hex sha256 except Linkerd's
// (whose absence versions.sh explains), and the Gateway API CRDs install.sh
// applies come from the same module version the tests decode HTTPRoutes
// with.
func TestVersionsPinned(t *testing.T) {
	v := versions(t)
	hex := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for _, k := range []string{"KIND_SHA256", "KUBECTL_SHA256", "ISTIOCTL_SHA256"} {
		if !hex.MatchString(v[k]) {
			t.Errorf("%s=%q: want a sha256", k, v[k])
		}
	}
	for _, k := range []string{"KIND_VERSION", "KUBECTL_VERSION", "ISTIO_VERSION", "LINKERD_VERSION", "GATEWAY_API_VERSION", "KIND_NODE_IMAGE"} {
		if v[k] == "" {
			t.Errorf("%s unset", k)
		}
	}
	if !strings.Contains(v["KIND_NODE_IMAGE"], "@sha256:") {
		t.Errorf("KIND_NODE_IMAGE %q not pinned by digest", v["KIND_NODE_IMAGE"])
	}
	if v["LINKERD_SHA256"] == "" && !strings.Contains(string(read(t, "scripts/kind/versions.sh")), "no published sha256") {
		t.Error("LINKERD_SHA256 empty without saying why")
	}
	gomod := string(read(t, "go.mod"))
	if m := regexp.MustCompile(`sigs\.k8s\.io/gateway-api (v\S+)`).FindStringSubmatch(gomod); m == nil || m[1] != v["GATEWAY_API_VERSION"] {
		t.Errorf("go.mod gateway-api %v, versions.sh GATEWAY_API_VERSION %q", m, v["GATEWAY_API_VERSION"])
	}
}

// binaries maps each bin/NAME that make build writes to its package, read
// from the Makefile's build target.
func binaries(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	re := regexp.MustCompile(`-o \$\(BIN\)/(\S+) (\./\S+)`)
	for _, m := range re.FindAllStringSubmatch(string(read(t, "Makefile")), -1) {
		out[m[1]] = m[2]
	}
	if len(out) < 3 {
		t.Fatalf("Makefile build target: found %v", out)
	}
	return out
}

// TestDockerfiles: every path a Dockerfile copies exists after make build
// (a bin/ binary missing here is built into a scratch copy of bin/ by this
// test, with the Makefile's own package path), and the Dockerfile's
// .dockerignore lets exactly those paths into the build context.
func TestDockerfiles(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(root, "deploy/docker/*.Dockerfile"))
	if len(files) != 4 {
		t.Fatalf("Dockerfiles: %v", files)
	}
	bins := binaries(t)
	scratch := t.TempDir()
	copyRe := regexp.MustCompile(`(?m)^COPY\s+(.+)$`)
	for _, f := range files {
		name := filepath.Base(f)
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`(?m)^FROM \S+:\S+`).Match(b) {
			t.Errorf("%s: FROM without a tag", name)
		}
		var srcs []string
		for _, m := range copyRe.FindAllStringSubmatch(string(b), -1) {
			f := strings.Fields(m[1])
			if strings.HasPrefix(f[0], "--from") {
				continue
			}
			var args []string
			for _, a := range f {
				if !strings.HasPrefix(a, "--") {
					args = append(args, a)
				}
			}
			srcs = append(srcs, args[:len(args)-1]...)
		}
		if len(srcs) == 0 {
			t.Errorf("%s copies nothing", name)
		}
		ignore, err := os.ReadFile(f + ".dockerignore")
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		for _, src := range srcs {
			if !strings.Contains(string(ignore), "\n!"+src+"\n") {
				t.Errorf("%s copies %s, which %s.dockerignore does not let in", name, src, name)
			}
			if _, err := os.Stat(filepath.Join(root, src)); err == nil {
				continue
			}
			bin, ok := strings.CutPrefix(src, "bin/")
			pkg := bins[bin]
			if !ok || pkg == "" {
				t.Errorf("%s copies %s, which does not exist and make build does not write", name, src)
				continue
			}
			if testing.Short() {
				t.Logf("%s: %s not built (run make build); -short skips building it", name, src)
				continue
			}
			cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-trimpath", "-o", filepath.Join(scratch, bin), pkg)
			cmd.Dir = root
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("%s copies %s: make build's go build %s fails: %v\n%s", name, src, pkg, err, out)
			}
		}
	}
}

// TestInitScriptDryRun: meshproxy-init.sh refuses empty rules and, in dry
// run, prints the rules it would restore.
func TestInitScriptDryRun(t *testing.T) {
	script := filepath.Join(root, "deploy/docker/meshproxy-init.sh")
	cmd := exec.Command("sh", script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "MESHPROXY_INIT_DRY_RUN=1"}
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("no rules: exit 0:\n%s", out)
	}
	rules := "*nat\n:MESHBENCH_OUTPUT - [0:0]\nCOMMIT"
	cmd = exec.Command("sh", script)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "MESHPROXY_INIT_DRY_RUN=1", "IPTABLES_MODE=legacy", "MESHPROXY_CAPTURE_RULES=" + rules}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if want := "iptables-legacy-restore --noflush <<EOF\n" + rules + "\nEOF\n"; string(out) != want {
		t.Errorf("dry run:\n%s\nwant:\n%s", out, want)
	}
}

// TestShellcheck runs shellcheck over the kind scripts and meshproxy-init.
func TestShellcheck(t *testing.T) {
	sc := testenv.NeedProgram(t, "shellcheck", "shellcheck")
	scripts, _ := filepath.Glob(filepath.Join(root, "scripts/kind/*.sh"))
	scripts = append(scripts, filepath.Join(root, "deploy/docker/meshproxy-init.sh"))
	cmd := exec.Command(sc, append([]string{"-x"}, scripts...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("shellcheck: %v\n%s", err, out)
	}
	for _, s := range scripts {
		fi, err := os.Stat(s)
		if err != nil {
			t.Fatal(err)
		}
		lib := strings.HasSuffix(s, "lib.sh") || strings.HasSuffix(s, "versions.sh")
		if exec := fi.Mode()&0o111 != 0; exec == lib {
			t.Errorf("%s: executable=%v (scripts are executable, sourced files are not)", s, exec)
		}
	}
}
