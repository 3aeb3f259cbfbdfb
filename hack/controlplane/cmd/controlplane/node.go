package main

// Node mode (--node): one kubelet on containerd, so that pods really run.
//
// Network, with nothing routed or NATed off the machine: the launcher creates a
// bridge carrying two addresses, the node's (10.214.0.1/24: its InternalIP and
// the pods' gateway) and the `kubernetes` Service IP (10.213.0.1/32), where the
// apiserver itself listens on 443 — so in-cluster clients reach it at
// KUBERNETES_SERVICE_HOST:PORT without kube-proxy. Pods get addresses on the
// bridge from the CNI bridge and host-local plugins (Debian's
// containernetworking-plugins), without IP masquerading.
//
// Runtime: Debian's containerd (1.6) and runc, configured for this host (cgroupfs,
// restricted oom_score_adj, the native snapshotter), all state under the work
// dir. No public registry is reachable: the sandbox ("pause") image is written
// here as an OCI archive from the pause binary build.sh compiles, and the images
// given with --image are imported into containerd's k8s.io namespace. Images can
// also be pulled, as on a real node, from plain-HTTP registries on this machine
// named with --registry (a hosts.toml each, under the registry config_path).

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"syscall"
	"time"
)

const (
	serviceCIDR = "10.213.0.0/24"
	serviceIP   = "10.213.0.1"
	podCIDR     = "10.214.0.0/24"
	nodeIP      = "10.214.0.1"
	bridgeName  = "appflownode0"
	nodeName    = "node-1"
	pauseImage  = "localhost/pause:3.10"
)

// imageList collects repeated flags (--image, --registry, --apiserver-arg).
type imageList []string

func (l *imageList) String() string     { return strings.Join(*l, ",") }
func (l *imageList) Set(v string) error { *l = append(*l, v); return nil }

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// createBridge creates the node's bridge, refusing addresses the machine already routes
// somewhere else (a leftover bridge of a killed launcher is replaced).
func createBridge() error {
	deleteBridge()
	for _, cidr := range []string{serviceCIDR, podCIDR} {
		_, want, _ := net.ParseCIDR(cidr)
		addrs, err := net.InterfaceAddrs()
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if ipnet, ok := a.(*net.IPNet); ok && (want.Contains(ipnet.IP) || ipnet.Contains(want.IP)) {
				return fmt.Errorf("%s overlaps %s, already on this machine", cidr, ipnet)
			}
		}
	}
	for _, args := range [][]string{
		{"link", "add", bridgeName, "type", "bridge"},
		{"addr", "add", nodeIP + "/24", "dev", bridgeName},
		{"addr", "add", serviceIP + "/32", "dev", bridgeName},
		{"link", "set", bridgeName, "up"},
	} {
		if err := run("ip", args...); err != nil {
			return err
		}
	}
	return nil
}

func deleteBridge() {
	if _, err := net.InterfaceByName(bridgeName); err == nil {
		if err := run("ip", "link", "del", bridgeName); err != nil {
			logf("%v", err)
		}
	}
}

func (cp *controlPlane) nodePath(parts ...string) string {
	return filepath.Join(append([]string{cp.workDir, "node"}, parts...)...)
}

func (cp *controlPlane) containerdSocket() string {
	return cp.nodePath("containerd", "containerd.sock")
}

func (cp *controlPlane) ctr(args ...string) ([]byte, error) {
	cmd := exec.Command("ctr", append([]string{"--address", cp.containerdSocket(), "--namespace", "k8s.io"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("ctr %s: %v: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return out, nil
}

// netnsDir is where containerd's CRI plugin bind-mounts each pod's network namespace.
const netnsDir = "/var/run/netns"

// podNetns lists the pod network namespaces present now.
func podNetns() map[string]bool {
	found := map[string]bool{}
	entries, _ := os.ReadDir(netnsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "cni-") {
			found[e.Name()] = true
		}
	}
	return found
}

// ourNetns lists the pod network namespaces created since the node started.
func (cp *controlPlane) ourNetns() []string {
	var ours []string
	for name := range podNetns() {
		if !cp.netnsBefore[name] {
			ours = append(ours, name)
		}
	}
	return ours
}

// writeRegistryHosts tells containerd to pull from each --registry over plain HTTP
// (containerd's hosts.toml, one directory per registry host).
func (cp *controlPlane) writeRegistryHosts() error {
	for _, registry := range cp.registries {
		if _, _, err := net.SplitHostPort(registry); err != nil {
			return fmt.Errorf("--registry %q: want HOST:PORT: %w", registry, err)
		}
		dir := cp.nodePath("containerd", "certs.d", registry)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		hosts := fmt.Sprintf("server = \"http://%s\"\n\n[host.\"http://%s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", registry, registry)
		if err := os.WriteFile(filepath.Join(dir, "hosts.toml"), []byte(hosts), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// startNode starts containerd and the kubelet and waits until the node is Ready.
func (cp *controlPlane) startNode(ctx context.Context, p *pki) error {
	cp.netnsBefore = podNetns()
	for _, dir := range []string{"containerd", "cni", "cni-state", "kubelet", "kubelet-pki"} {
		if err := os.MkdirAll(cp.nodePath(dir), 0o755); err != nil {
			return err
		}
	}
	cniConf := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "appflow-node",
  "plugins": [{
    "type": "bridge", "bridge": %q, "isGateway": true, "ipMasq": false, "hairpinMode": true,
    "ipam": {
      "type": "host-local", "dataDir": %q,
      "ranges": [[{"subnet": %q, "gateway": %q}]],
      "routes": [{"dst": "0.0.0.0/0"}]
    }
  }]
}
`, bridgeName, cp.nodePath("cni-state"), podCIDR, nodeIP)
	if err := os.WriteFile(cp.nodePath("cni", "10-appflow-node.conflist"), []byte(cniConf), 0o644); err != nil {
		return err
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		return fmt.Errorf("runc not found (Debian: apt-get install runc containerd containernetworking-plugins): %w", err)
	}
	containerdConf := fmt.Sprintf(`version = 2
root = %q
state = %q
[grpc]
  address = %q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # This host refuses a negative oom_score_adj; without this every sandbox fails.
  restrict_oom_score_adj = true
  disable_apparmor = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = %q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = %q
`, cp.nodePath("containerd", "root"), cp.nodePath("containerd", "state"), cp.containerdSocket(),
		pauseImage, runc, cp.nodePath("cni"), cp.nodePath("containerd", "certs.d"))
	if err := cp.writeRegistryHosts(); err != nil {
		return err
	}
	confPath := cp.nodePath("containerd", "config.toml")
	if err := os.WriteFile(confPath, []byte(containerdConf), 0o644); err != nil {
		return err
	}
	containerd, err := exec.LookPath("containerd")
	if err != nil {
		return fmt.Errorf("containerd not found (Debian: apt-get install containerd): %w", err)
	}
	cp.containerd, err = startChild("containerd", containerd, filepath.Join(cp.workDir, "containerd.log"), "--config", confPath)
	if err != nil {
		return err
	}
	if err := poll(ctx, cp.timeout, "containerd", func() error { _, err := cp.ctr("version"); return err }); err != nil {
		return err
	}

	pause := cp.nodePath("pause.oci.tar")
	if err := writeImageArchive(pause, filepath.Join(cp.binDir, "pause"), "/pause", pauseImage); err != nil {
		return fmt.Errorf("pause image: %w", err)
	}
	for _, archive := range append([]string{pause}, cp.images...) {
		if _, err := cp.ctr("images", "import", archive); err != nil {
			return err
		}
	}

	kubeletConf := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This host: cgroup v1 without systemd, swap allowed, no QoS cgroup hierarchy.
cgroupDriver: cgroupfs
# From 1.35 the kubelet refuses to start on cgroup v1 unless told otherwise.
failCgroupV1: false
cgroupsPerQOS: false
enforceNodeAllocatable: []
failSwapOn: false
address: %s
port: 10250
readOnlyPort: 0
healthzPort: 0
# Serves logs, exec and port-forward to the apiserver only on the node's bridge.
authentication:
  anonymous: {enabled: true}
  webhook: {enabled: false}
authorization: {mode: AlwaysAllow}
containerRuntimeEndpoint: unix://%s
imageServiceEndpoint: unix://%s
# Test machines run with little free disk: never evict, never collect images.
evictionHard: {}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
localStorageCapacityIsolation: false
rotateCertificates: false
resolvConf: ""
`, nodeIP, cp.containerdSocket(), cp.containerdSocket())
	kubeletConfPath := cp.nodePath("kubelet.yaml")
	if err := os.WriteFile(kubeletConfPath, []byte(kubeletConf), 0o644); err != nil {
		return err
	}
	cp.kubelet, err = startChild("kubelet", filepath.Join(cp.binDir, "kubelet"), filepath.Join(cp.workDir, "kubelet.log"),
		"--config="+kubeletConfPath,
		"--kubeconfig="+cp.kubeconfig,
		"--node-ip="+nodeIP,
		"--hostname-override="+nodeName,
		"--root-dir="+cp.nodePath("kubelet"),
		"--cert-dir="+cp.nodePath("kubelet-pki"),
		"--v=1",
	)
	if err != nil {
		return err
	}
	began := time.Now()
	if err := poll(ctx, cp.timeout, "node "+nodeName+" Ready", cp.nodeReady); err != nil {
		return fmt.Errorf("%w\n%s", err, tail(cp.kubelet.logPath, 30))
	}
	logf("node %s Ready at %s after %.1fs (containerd, runc, kubelet)", nodeName, nodeIP, time.Since(began).Seconds())
	return nil
}

func poll(ctx context.Context, timeout time.Duration, what string, check func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := check()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: %w", what, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (cp *controlPlane) apiGet(path string, into any) error {
	resp, err := cp.readyClient.Get(cp.apiserverURL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

func (cp *controlPlane) nodeReady() error {
	var node struct {
		Status struct {
			Conditions []struct{ Type, Status string }
		}
	}
	if err := cp.apiGet("/api/v1/nodes/"+nodeName, &node); err != nil {
		return err
	}
	for _, c := range node.Status.Conditions {
		if c.Type == "Ready" && c.Status == "True" {
			return nil
		}
	}
	return errors.New("not Ready yet")
}

// stopNode stops every pod through the kubelet (so the CNI plugin releases its
// network namespace and address), then the kubelet and containerd, then whatever
// survives them: containerd's shims and the kubelet's mounts.
func (cp *controlPlane) stopNode() {
	if cp.kubelet != nil && cp.apiserver != nil {
		var namespaces struct {
			Items []struct{ Metadata struct{ Name string } }
		}
		if err := cp.apiGet("/api/v1/namespaces", &namespaces); err == nil {
			for _, ns := range namespaces.Items {
				req, _ := http.NewRequest(http.MethodDelete,
					cp.apiserverURL+"/api/v1/namespaces/"+ns.Metadata.Name+"/pods?gracePeriodSeconds=0", nil)
				if resp, err := cp.readyClient.Do(req); err == nil {
					resp.Body.Close()
				}
			}
			err := poll(context.Background(), 30*time.Second, "pods stopped", func() error {
				out, err := cp.ctr("tasks", "list", "--quiet")
				if err != nil {
					return err
				}
				if len(bytes.TrimSpace(out)) > 0 {
					return errors.New("tasks still running")
				}
				return nil
			})
			if err == nil {
				// The kubelet stops each sandbox after its containers: wait for the CNI
				// plugin to release the pod's network namespace too.
				err = poll(context.Background(), 15*time.Second, "pod networks released", func() error {
					if left := cp.ourNetns(); len(left) > 0 {
						return fmt.Errorf("%d left", len(left))
					}
					return nil
				})
			}
			if err != nil {
				logf("%v", err)
			}
		}
	}
	if cp.kubelet != nil {
		cp.kubelet.stop(10 * time.Second)
	}
	if cp.containerd != nil {
		if out, err := cp.ctr("tasks", "list", "--quiet"); err == nil {
			for _, id := range strings.Fields(string(out)) {
				_, _ = cp.ctr("tasks", "kill", "--signal", "SIGKILL", id)
			}
		}
		cp.containerd.stop(10 * time.Second)
	}
	killShims(cp.containerdSocket())
	unmountUnder(cp.nodePath())
	// Whatever the kubelet could not release (a pod stopped without its sandbox).
	for _, name := range cp.ourNetns() {
		path := filepath.Join(netnsDir, name)
		_ = syscall.Unmount(path, syscall.MNT_DETACH)
		if err := os.Remove(path); err != nil {
			logf("removing %s: %v", path, err)
		}
	}
}

// killShims kills containerd-shim processes of our containerd (they outlive it by design).
func killShims(socket string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cmdline, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(cmdline, []byte("containerd-shim")) || !bytes.Contains(cmdline, []byte(socket)) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(p, "/proc/%d/cmdline", &pid); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// unmountUnder detaches every mount below dir (the kubelet bind-mounts its root dir and
// the pods' volumes), deepest first.
func unmountUnder(dir string) {
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(info), "\n") {
		fields := strings.Fields(line)
		if len(fields) > 4 && (fields[4] == dir || strings.HasPrefix(fields[4], dir+"/")) {
			points = append(points, fields[4])
		}
	}
	sort.Slice(points, func(i, j int) bool { return len(points[i]) > len(points[j]) })
	for _, point := range points {
		if err := syscall.Unmount(point, syscall.MNT_DETACH); err != nil {
			logf("unmounting %s: %v", point, err)
		}
	}
}

// writeImageArchive writes an OCI image archive (oci-archive layout: oci-layout,
// index.json, blobs) holding one file, the static binary, as the image's entrypoint;
// `ctr images import` reads it under the name ref.
func writeImageArchive(path, binary, inImage, ref string) error {
	content, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(inImage, "/"), Mode: 0o755, Size: int64(len(content)),
		Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	if _, err := tw.Write(content); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	blobs := map[string][]byte{}
	descriptor := func(mediaType string, data []byte) map[string]any {
		sum := sha256.Sum256(data)
		digest := "sha256:" + hex.EncodeToString(sum[:])
		blobs[digest] = data
		return map[string]any{"mediaType": mediaType, "digest": digest, "size": len(data)}
	}
	layerDesc := descriptor("application/vnd.oci.image.layer.v1.tar", layer.Bytes())
	config, _ := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH, "os": "linux",
		"config": map[string]any{"Entrypoint": []string{inImage}, "User": "65535:65535"},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDesc["digest"].(string)}},
	})
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": descriptor("application/vnd.oci.image.config.v1+json", config),
		"layers": []any{layerDesc},
	})
	manifestDesc := descriptor("application/vnd.oci.image.manifest.v1+json", manifest)
	manifestDesc["platform"] = map[string]string{"architecture": runtime.GOARCH, "os": "linux"}
	manifestDesc["annotations"] = map[string]string{"org.opencontainers.image.ref.name": ref}
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "manifests": []any{manifestDesc}})

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	out := tar.NewWriter(f)
	add := func(name string, data []byte) error {
		if err := out.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		_, err := out.Write(data)
		return err
	}
	if err := add("oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)); err != nil {
		return err
	}
	if err := add("index.json", index); err != nil {
		return err
	}
	digests := make([]string, 0, len(blobs))
	for d := range blobs {
		digests = append(digests, d)
	}
	sort.Strings(digests)
	for _, d := range digests {
		if err := add("blobs/sha256/"+strings.TrimPrefix(d, "sha256:"), blobs[d]); err != nil {
			return err
		}
	}
	return out.Close()
}
