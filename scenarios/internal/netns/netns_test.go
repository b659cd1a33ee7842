package netns

import (
	"strings"
	"testing"
)

func TestCaptureRules(t *testing.T) {
	got, err := CaptureRules(CaptureOptions{OutboundProxyPort: 15001, ProxyUID: 1337, InboundProxyPort: 15006, InboundPorts: []int{8080, 9090}})
	if err != nil {
		t.Fatal(err)
	}
	want := `*nat
:MESHBENCH_OUTPUT - [0:0]
-A OUTPUT -p tcp -j MESHBENCH_OUTPUT
-A MESHBENCH_OUTPUT -m owner --uid-owner 1337 -j RETURN
-A MESHBENCH_OUTPUT -o lo -j RETURN
-A MESHBENCH_OUTPUT -d 127.0.0.0/8 -j RETURN
-A MESHBENCH_OUTPUT -p tcp -j REDIRECT --to-ports 15001
:MESHBENCH_INBOUND - [0:0]
-A PREROUTING -p tcp -j MESHBENCH_INBOUND
-A MESHBENCH_INBOUND -p tcp --dport 8080 -j REDIRECT --to-ports 15006
-A MESHBENCH_INBOUND -p tcp --dport 9090 -j REDIRECT --to-ports 15006
COMMIT
`
	if got != want {
		t.Errorf("rules:\n%s\nwant:\n%s", got, want)
	}

	got, err = CaptureRules(CaptureOptions{OutboundProxyPort: 15001, OutboundPorts: []int{80, 8080}, ProxyUID: 1337})
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"-A MESHBENCH_OUTPUT -p tcp --dport 80 -j REDIRECT --to-ports 15001\n",
		"-A MESHBENCH_OUTPUT -p tcp --dport 8080 -j REDIRECT --to-ports 15001\n",
	} {
		if !strings.Contains(got, line) {
			t.Errorf("rules lack %q:\n%s", line, got)
		}
	}
	if strings.Contains(got, "INBOUND") || strings.Contains(got, "-p tcp -j REDIRECT") {
		t.Errorf("port-limited outbound-only rules:\n%s", got)
	}

	for _, bad := range []CaptureOptions{
		{},
		{InboundProxyPort: 15006},               // no inbound ports: nothing
		{OutboundProxyPort: 15001},              // no proxy uid
		{OutboundProxyPort: 15001, ProxyUID: 0}, // root
		{OutboundProxyPort: 70000, ProxyUID: 1337}, // port range
		{OutboundProxyPort: 15001, ProxyUID: 1337, OutboundPorts: []int{0}},
		{InboundProxyPort: 15006, InboundPorts: []int{-1}},
	} {
		if _, err := CaptureRules(bad); err == nil {
			t.Errorf("CaptureRules(%+v) accepted", bad)
		}
	}
}

func TestCreateRejectsBadNames(t *testing.T) {
	for _, tc := range []struct {
		prefix string
		pods   []string
	}{
		{"", []string{"a"}},
		{"-x", []string{"a"}},
		{"mb t", []string{"a"}},
		{"mbt", nil},
		{"mbt", []string{"a", "a"}},
		{"mbt", []string{"node"}},
		{"mbt", []string{"a/b"}},
		{"mbt", []string{strings.Repeat("a", 65)}},
		{"mbt", make([]string, MaxPods+1)},
	} {
		// Validation happens before any command runs, so this needs no root.
		if _, err := Create(tc.prefix, tc.pods); err == nil {
			t.Errorf("Create(%q, %d pods) accepted", tc.prefix, len(tc.pods))
		}
	}
}

func TestCommand(t *testing.T) {
	n := &Network{prefix: "mbt", pods: []Pod{{Name: "client", NetNS: "mbt-client", IP: "10.240.0.2"}}}
	if got := strings.Join(n.Command("client", "curl", "-s", "http://x/"), " "); got != "ip netns exec mbt-client curl -s http://x/" {
		t.Errorf("Command = %s", got)
	}
	if got := strings.Join(n.CommandAs("client", 1337, 1338, "meshproxy", "-config", "c.yaml"), " "); got != "ip netns exec mbt-client setpriv --reuid=1337 --regid=1338 --clear-groups -- meshproxy -config c.yaml" {
		t.Errorf("CommandAs = %s", got)
	}
	if p := n.Pod("nosuch"); p != (Pod{}) {
		t.Errorf("Pod(nosuch) = %+v", p)
	}
	defer func() {
		if recover() == nil {
			t.Error("Command for an unknown pod did not panic")
		}
	}()
	n.Command("nosuch", "true")
}

func TestCleanupStaleRefusesEmptyPrefix(t *testing.T) {
	if err := CleanupStale(""); err == nil {
		t.Fatal("CleanupStale(\"\") accepted")
	}
}
