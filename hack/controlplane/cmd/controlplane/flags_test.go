package main

import (
	"slices"
	"strings"
	"testing"
)

func TestSetFlagReplacesAnEntryByNameWhereItStands(t *testing.T) {
	args := []string{"--advertise-address=127.0.0.1", "--service-account-key-file=sa.pub", "--allow-privileged=true"}
	got := setFlag(args, "service-account-key-file", "other.pub")
	want := []string{"--advertise-address=127.0.0.1", "--service-account-key-file=other.pub", "--allow-privileged=true"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestSetFlagAppendsAFlagNotThereAndMatchesWholeNamesOnly(t *testing.T) {
	// `--address=` is not `--advertise-address=`, `key-file` not `service-account-key-file`.
	args := []string{"--advertise-address=127.0.0.1", "--service-account-key-file=sa.pub"}
	got := setFlag(setFlag(args, "address", "0.0.0.0"), "key-file", "k")
	want := []string{"--advertise-address=127.0.0.1", "--service-account-key-file=sa.pub", "--address=0.0.0.0", "--key-file=k"}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
	if got := setFlag(nil, "v", ""); !slices.Equal(got, []string{"--v="}) {
		t.Errorf("empty value: got %q", got)
	}
}

func TestUnsetFlagDropsEveryEntryOfThatNameOnly(t *testing.T) {
	args := []string{"--a=1", "--ab=2", "--a=3", "--b=4"}
	if got, want := unsetFlag(args, "a"), []string{"--ab=2", "--b=4"}; !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// flagValues maps each flag name to its values, in order.
func flagValues(args []string) map[string][]string {
	values := map[string][]string{}
	for _, arg := range args {
		name, value, _ := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		values[name] = append(values[name], value)
	}
	return values
}

func TestAPIServerFlagsOnLoopbackLeaveTheKubernetesServiceEndpointsAlone(t *testing.T) {
	cp := &controlPlane{workDir: "/w", address: "127.0.0.1", serviceCIDR: "10.0.0.0/24", etcdURL: "http://127.0.0.1:1"}
	values := flagValues(cp.apiServerFlags(&pki{dir: "/w/pki"}, 6443))
	for name, want := range map[string]string{
		"advertise-address":         "127.0.0.1",
		"bind-address":              "127.0.0.1",
		"secure-port":               "6443",
		"endpoint-reconciler-type":  "none",
		"disable-admission-plugins": "ServiceAccount",
		"client-ca-file":            "/w/pki/ca.crt",
	} {
		if got := values[name]; !slices.Equal(got, []string{want}) {
			t.Errorf("--%s: got %q, want [%q]", name, got, want)
		}
	}
	if got := values["enable-admission-plugins"]; got != nil {
		t.Errorf("--enable-admission-plugins given: %q", got)
	}
}

func TestAPIServerFlagsOfANodeAdmitServiceAccountsAndKeepTheEndpointReconciler(t *testing.T) {
	cp := &controlPlane{workDir: "/w", address: serviceIP, serviceCIDR: serviceCIDR, node: true, etcdURL: "http://127.0.0.1:1"}
	values := flagValues(cp.apiServerFlags(&pki{dir: "/w/pki"}, 443))
	for name, want := range map[string]string{
		"advertise-address":               serviceIP,
		"service-cluster-ip-range":        serviceCIDR,
		"enable-admission-plugins":        "ServiceAccount",
		"kubelet-preferred-address-types": "InternalIP",
	} {
		if got := values[name]; !slices.Equal(got, []string{want}) {
			t.Errorf("--%s: got %q, want [%q]", name, got, want)
		}
	}
	for _, name := range []string{"disable-admission-plugins", "endpoint-reconciler-type"} {
		if got := values[name]; got != nil {
			t.Errorf("--%s given: %q", name, got)
		}
	}
}

func TestAPIServerArgsComeLastAndOursAppearOnce(t *testing.T) {
	extra := []string{"--feature-gates=WatchList=false", "--endpoint-reconciler-type=lease"}
	cp := &controlPlane{workDir: "/w", address: "127.0.0.1", serviceCIDR: "10.0.0.0/24", apiserverExtra: extra}
	args := cp.apiServerFlags(&pki{dir: "/w/pki"}, 6443)
	if got := args[len(args)-2:]; !slices.Equal(got, extra) {
		t.Errorf("last flags: got %q, want %q", got, extra)
	}
	for name, values := range flagValues(args[:len(args)-2]) {
		if len(values) != 1 {
			t.Errorf("--%s given %d times: %q", name, len(values), values)
		}
	}
}
