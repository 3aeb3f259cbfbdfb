package main

import (
	"os"
	"strings"
	"testing"
)

func TestRegistryHostsTellContainerdToPullOverPlainHTTP(t *testing.T) {
	cp := &controlPlane{workDir: t.TempDir(), registries: []string{"127.0.0.1:5000"}}
	if err := cp.writeRegistryHosts(); err != nil {
		t.Fatal(err)
	}
	hosts, err := os.ReadFile(cp.nodePath("containerd", "certs.d", "127.0.0.1:5000", "hosts.toml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`server = "http://127.0.0.1:5000"`, `[host."http://127.0.0.1:5000"]`, `capabilities = ["pull", "resolve"]`} {
		if !strings.Contains(string(hosts), want) {
			t.Errorf("hosts.toml lacks %s:\n%s", want, hosts)
		}
	}
}

func TestARegistryWithoutAPortIsRefused(t *testing.T) {
	cp := &controlPlane{workDir: t.TempDir(), registries: []string{"127.0.0.1"}}
	if err := cp.writeRegistryHosts(); err == nil || !strings.Contains(err.Error(), "HOST:PORT") {
		t.Fatalf("want a HOST:PORT error, got %v", err)
	}
}
