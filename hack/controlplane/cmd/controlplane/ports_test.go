package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFreePortsAreDistinctBindableAndOutsideTheEphemeralRange(t *testing.T) {
	ports, err := freePorts(50)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < 10000 || p >= 30000 {
			t.Errorf("port %d outside [10000, 30000)", p)
		}
		if seen[p] {
			t.Errorf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}

func TestPortConflictIsRecognisedOnlyAfterTheChildExitedWithIt(t *testing.T) {
	dir := t.TempDir()
	run := func(name, script string) *child {
		c, err := startChild(name, "/bin/sh", filepath.Join(dir, name+".log"), "-c", script)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	taken := run("taken", `echo 'listen tcp 127.0.0.1:1: bind: address already in use' >&2; exit 1`)
	other := run("other", `echo 'some other failure' >&2; exit 1`)
	running := run("running", `echo 'bind: address already in use' >&2; exec sleep 30`)
	defer running.stop(time.Second)
	for _, c := range []*child{taken, other} {
		select {
		case <-c.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not exit", c.name)
		}
	}
	if !portConflict(taken) {
		t.Errorf("exit with 'address already in use' not recognised; log: %q", readFile(t, taken.logPath))
	}
	if portConflict(other) {
		t.Error("another failure taken for a port conflict")
	}
	if portConflict(running) {
		t.Error("a child still running taken for a port conflict")
	}
	if portConflict(nil) {
		t.Error("a child never started taken for a port conflict")
	}
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
