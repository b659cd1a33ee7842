package cpus

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []int
		wantErr string
	}{
		{in: "1", want: []int{1}},
		{in: "0,2", want: []int{0, 2}},
		{in: "2-3", want: []int{2, 3}},
		{in: "0,4-6, 2", want: []int{0, 2, 4, 5, 6}},
		{in: "3,1-3", want: []int{1, 2, 3}},
		{in: "", wantErr: "empty CPU list"},
		{in: "a", wantErr: `item "a"`},
		{in: "1,", wantErr: `item ""`},
		{in: "-1", wantErr: `item "-1"`},
		{in: "+1", wantErr: `item "+1"`},
		{in: "3-1", wantErr: "runs backwards"},
		{in: "1-2-3", wantErr: `item "1-2-3"`},
		{in: "1024", wantErr: "CPU 1024 above 1023"},
	} {
		got, err := Parse(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("Parse(%q) = %v, %v; want error containing %q", tc.in, got, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "0,1,2,5": "0-2,5", "1,3,5-7": "1,3,5-7"} {
		l, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := Format(l); got != want {
			t.Errorf("Format(Parse(%q)) = %q, want %q", in, got, want)
		}
	}
}

func TestCheck(t *testing.T) {
	if err := Check("cpus.load", []int{1}, []int{0, 1}); err != nil {
		t.Errorf("CPU 1 of 0-1: %v", err)
	}
	err := Check("cpus.load", []int{1, 2, 3}, []int{0, 1})
	if err == nil || !strings.Contains(err.Error(), "cpus.load 1-3: CPU 2-3 not available here (this process may use CPUs 0-1)") {
		t.Errorf("CPUs 1-3 of 0-1: %v", err)
	}
}

// TestStartPins starts a real child pinned to one CPU and reads its
// affinity back from the kernel, for the child and every thread of ours
// (the forking thread's own mask must be restored).
func TestStartPins(t *testing.T) {
	allowed, err := Allowed()
	if err != nil {
		t.Fatal(err)
	}
	want := []int{allowed[len(allowed)-1]}
	cmd := exec.Command("sleep", "30")
	if err := Start(cmd, want); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	got, err := Of(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("child pinned to %v, want %v", got, want)
	}
	tasks, err := filepath.Glob("/proc/self/task/*/status")
	if err != nil || len(tasks) == 0 {
		t.Fatalf("list own threads: %v %v", tasks, err)
	}
	wantLine := "Cpus_allowed_list:\t" + Format(allowed)
	for _, f := range tasks {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the thread exited
		}
		if !strings.Contains(string(b), wantLine+"\n") {
			t.Errorf("%s: thread affinity not restored, want %q in:\n%s", f, wantLine, b)
		}
	}

	// No list: the child keeps every CPU we have.
	all := exec.Command("sleep", "30")
	if err := Start(all, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = all.Process.Kill(); _ = all.Wait() })
	if got, err := Of(all.Process.Pid); err != nil || !reflect.DeepEqual(got, allowed) {
		t.Errorf("unpinned child: %v, %v; want %v", got, err, allowed)
	}
}
