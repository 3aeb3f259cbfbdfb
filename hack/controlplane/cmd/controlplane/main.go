// Command controlplane runs a throwaway Kubernetes control plane (etcd +
// kube-apiserver) on loopback, for integration tests and the local demo; with
// --node, also kube-controller-manager, kube-scheduler and one kubelet on
// containerd, so pods really run (node.go).
//
//	controlplane --bin-dir DIR --work-dir DIR [--keep] [--timeout 90s] [--node [--image OCI.tar]... [--registry HOST:PORT]...]
//
// Protocol (line based, so any parent process can drive it):
//   - stdout: exactly `READY <absolute kubeconfig path>` each time the
//     apiserver has become ready, or `ERROR <message>` just before exiting
//     on failure. Everything else goes to stderr and the log files.
//   - stdin commands: `restart-apiserver`, `stop`. EOF on stdin (the parent
//     died or closed the pipe) means stop, as do SIGTERM and SIGINT.
//
// Every start is a fresh cluster: new certificates, new etcd data.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	binDir := flag.String("bin-dir", "", "directory holding the etcd and kube-apiserver binaries (default: this binary's directory)")
	workDir := flag.String("work-dir", "", "directory for certificates, etcd data, kubeconfig and logs (required)")
	keep := flag.Bool("keep", false, "keep the work dir on exit (default: remove it)")
	timeout := flag.Duration("timeout", 90*time.Second, "how long etcd and the apiserver each get to become ready")
	node := flag.Bool("node", false, "also run a node: kube-controller-manager, kube-scheduler, and a kubelet on containerd with its pods on a bridge this launcher creates (needs root, containerd, runc and the CNI plugins; see node.go)")
	var images imageList
	flag.Var(&images, "image", "with --node: an OCI image archive to import into the node's containerd (repeatable)")
	var registries imageList
	flag.Var(&registries, "registry", "with --node: HOST:PORT of a plain-HTTP registry (on loopback) the node's containerd pulls from (repeatable)")
	var apiserverExtra imageList
	flag.Var(&apiserverExtra, "apiserver-arg", "one more kube-apiserver flag, e.g. --feature-gates=WatchList=false (repeatable)")
	flag.Parse()
	if *workDir == "" {
		fatalf("--work-dir is required")
	}
	if *binDir == "" {
		exe, err := os.Executable()
		if err != nil {
			fatalf("locating own binary: %v", err)
		}
		*binDir = filepath.Dir(exe)
	}
	cp := &controlPlane{binDir: *binDir, timeout: *timeout, address: "127.0.0.1", serviceCIDR: "10.0.0.0/24", node: *node, images: images, registries: registries, apiserverExtra: apiserverExtra}
	if cp.node {
		// Pods reach the apiserver at the `kubernetes` Service's IP and port, with no
		// kube-proxy: the apiserver itself listens there, on the node's bridge.
		cp.address, cp.apiPort, cp.serviceCIDR = serviceIP, 443, serviceCIDR
	}
	var err error
	if cp.binDir, err = filepath.Abs(cp.binDir); err != nil {
		fatalf("%v", err)
	}
	if cp.workDir, err = filepath.Abs(*workDir); err != nil {
		fatalf("%v", err)
	}
	code := cp.run()
	if !*keep {
		if err := os.RemoveAll(cp.workDir); err != nil {
			logf("removing work dir: %v", err)
		}
	}
	os.Exit(code)
}

type controlPlane struct {
	binDir, workDir string
	timeout         time.Duration
	address         string // the apiserver's bind and advertise address
	apiPort         int    // 0: a free port
	serviceCIDR     string
	node            bool
	images          []string
	registries      []string
	apiserverExtra  []string // flags given with --apiserver-arg, after ours
	controllers     []*child
	kubelet         *child
	containerd      *child
	netnsBefore     map[string]bool // pod network namespaces that are not ours

	etcdURL       string
	apiserverArgs []string
	apiserverURL  string
	kubeconfig    string
	readyClient   *http.Client // trusts our CA, presents the admin cert

	etcd, apiserver *child
}

// run starts everything, serves stdin commands, and always tears down.
// It returns the process exit code.
func (cp *controlPlane) run() int {
	// Signals and stdin are watched from the start so a parent that gives up
	// during a slow first start still gets a clean teardown.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	cmds := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			cmds <- strings.TrimSpace(sc.Text())
		}
		close(cmds) // EOF or read error: the parent is gone
	}()

	defer cp.teardown()
	if stop := cp.interruptible(cmds, sigs, cp.start); stop != nil {
		return *stop
	}
	ready(cp.kubeconfig)
	// The node's processes (none without --node); etcd and the apiserver are watched below.
	nodeExit := firstExit(append(cp.controllers, cp.kubelet, cp.containerd)...)

	for {
		select {
		case cmd, ok := <-cmds:
			switch {
			case !ok:
				logf("stdin closed, stopping")
				return 0
			case cmd == "stop":
				return 0
			case cmd == "restart-apiserver":
				if stop := cp.interruptible(cmds, sigs, cp.restartAPIServer); stop != nil {
					return *stop
				}
				ready(cp.kubeconfig)
			case cmd == "":
			default:
				logf("unknown command %q (want restart-apiserver or stop)", cmd)
			}
		case s := <-sigs:
			logf("got %v, stopping", s)
			return 0
		case <-cp.etcd.done:
			return fail(fmt.Errorf("etcd exited unexpectedly (%v)\n%s", cp.etcd.err, tail(cp.etcd.logPath, 30)))
		case <-cp.apiserver.done:
			return fail(fmt.Errorf("kube-apiserver exited unexpectedly (%v)\n%s", cp.apiserver.err, tail(cp.apiserver.logPath, 30)))
		case c := <-nodeExit:
			return fail(exitedError(c))
		}
	}
}

// interruptible runs a slow step (start, restart) while still honouring
// stop requests: a signal, `stop` or EOF on stdin cancels the step's context.
// It returns nil when the step succeeded, otherwise the exit code to use.
func (cp *controlPlane) interruptible(cmds <-chan string, sigs <-chan os.Signal, step func(context.Context) error) *int {
	ctx, cancel := context.WithCancel(context.Background())
	stopped := false
	watcherDone := make(chan struct{})
	go func() {
		defer close(watcherDone)
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-sigs:
				logf("got %v, stopping", s)
			case cmd, ok := <-cmds:
				if ok && cmd != "stop" {
					logf("ignoring %q: not ready yet", cmd)
					continue
				}
				logf("stop requested (stdin: %q, open: %v)", cmd, ok)
			}
			stopped = true
			cancel()
			return
		}
	}()
	err := step(ctx)
	cancel()
	<-watcherDone // the watcher must not steal commands from the main loop
	code := 0
	switch {
	case stopped:
		return &code
	case err != nil:
		code = fail(err)
		return &code
	}
	return nil
}

func (cp *controlPlane) start(ctx context.Context) error {
	if err := os.MkdirAll(cp.workDir, 0o755); err != nil {
		return err
	}
	// Fresh cluster on every start, even when the work dir was kept.
	dataDir := filepath.Join(cp.workDir, "etcd-data")
	if err := os.RemoveAll(dataDir); err != nil {
		return err
	}
	if cp.node {
		// The bridge carries the apiserver's address, so it comes first.
		if err := createBridge(); err != nil {
			return fmt.Errorf("node network: %w", err)
		}
	}

	pki, err := writePKI(filepath.Join(cp.workDir, "pki"), net.ParseIP(cp.address))
	if err != nil {
		return fmt.Errorf("generating certificates: %w", err)
	}
	cp.readyClient, err = pki.httpClient()
	if err != nil {
		return err
	}
	if err := cp.startStorageAndAPI(ctx, pki, dataDir); err != nil {
		return err
	}
	if !cp.node {
		return nil
	}
	manager, err := startChild("kube-controller-manager", filepath.Join(cp.binDir, "kube-controller-manager"),
		filepath.Join(cp.workDir, "kube-controller-manager.log"),
		"--kubeconfig="+cp.kubeconfig,
		"--root-ca-file="+pki.path("ca.crt"),
		"--service-account-private-key-file="+pki.path("sa.key"),
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=0",
		// No pod CIDRs per node: the CNI config hands out addresses on the bridge. (The
		// cloud controllers are gone in 1.37 and naming them is an error; before, they only
		// logged that no cloud provider is set.)
		"--controllers=*,-node-ipam-controller",
	)
	if err != nil {
		return err
	}
	scheduler, err := startChild("kube-scheduler", filepath.Join(cp.binDir, "kube-scheduler"),
		filepath.Join(cp.workDir, "kube-scheduler.log"),
		"--kubeconfig="+cp.kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		"--secure-port=0",
	)
	if err != nil {
		manager.stop(5 * time.Second)
		return err
	}
	cp.controllers = []*child{manager, scheduler}
	if err := cp.startNode(ctx, pki); err != nil {
		return err
	}
	// A controller that refused its flags has exited by now; without it pods never start.
	for _, c := range cp.controllers {
		select {
		case <-c.done:
			return exitedError(c)
		default:
		}
	}
	return nil
}

// startStorageAndAPI starts etcd and the apiserver on freshly chosen ports.
// A chosen port can still be taken between choosing and binding it (another
// test binding one explicitly); the process then exits with "address already
// in use" and the attempt is repeated on new ports rather than failing a test.
func (cp *controlPlane) startStorageAndAPI(ctx context.Context, pki *pki, dataDir string) error {
	const attempts = 3
	for attempt := 1; ; attempt++ {
		err := cp.tryStartStorageAndAPI(ctx, pki, dataDir)
		if err == nil {
			return nil
		}
		conflict := portConflict(cp.etcd) || portConflict(cp.apiserver)
		if !conflict || attempt == attempts || ctx.Err() != nil {
			return err
		}
		logf("a chosen port was taken before it was bound (attempt %d of %d), retrying on new ports", attempt, attempts)
		if cp.apiserver != nil {
			cp.apiserver.stop(10 * time.Second)
			cp.apiserver = nil
		}
		if cp.etcd != nil {
			cp.etcd.stop(10 * time.Second)
			cp.etcd = nil
		}
		if err := os.RemoveAll(dataDir); err != nil {
			return err
		}
	}
}

// portConflict reports whether c exited because its port was in use.
func portConflict(c *child) bool {
	if c == nil {
		return false
	}
	select {
	case <-c.done:
	default:
		return false
	}
	return strings.Contains(tail(c.logPath, 40), "address already in use")
}

func (cp *controlPlane) tryStartStorageAndAPI(ctx context.Context, pki *pki, dataDir string) error {
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	etcdPort, peerPort, apiPort := ports[0], ports[1], ports[2]
	if cp.apiPort != 0 {
		apiPort = cp.apiPort
	}
	cp.apiserverURL = "https://" + net.JoinHostPort(cp.address, strconv.Itoa(apiPort))
	cp.kubeconfig = filepath.Join(cp.workDir, "kubeconfig")
	if err := writeKubeconfig(cp.kubeconfig, cp.apiserverURL, pki); err != nil {
		return err
	}

	cp.etcdURL = "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	cp.etcd, err = startChild("etcd", filepath.Join(cp.binDir, "etcd"), filepath.Join(cp.workDir, "etcd.log"),
		"--name=default",
		"--data-dir="+dataDir,
		"--listen-client-urls="+cp.etcdURL,
		"--advertise-client-urls="+cp.etcdURL,
		"--listen-peer-urls="+peerURL,
		"--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL,
		// Throwaway data: skipping fsync makes writes much faster (envtest does the same).
		"--unsafe-no-fsync=true",
	)
	if err != nil {
		return err
	}
	// Waiting for etcd first is not strictly needed (the apiserver retries),
	// but it turns "etcd is broken" into a clear error instead of a timeout.
	if err := waitReady(ctx, cp.etcd, http.DefaultClient, cp.etcdURL+"/health", cp.timeout); err != nil {
		return err
	}

	cp.apiserverArgs = cp.apiServerFlags(pki, apiPort)
	return cp.startAPIServer(ctx)
}

// apiServerFlags returns kube-apiserver's flags: ours, then those given with --apiserver-arg
// (of a flag with one value kube-apiserver takes the last, so those override ours).
func (cp *controlPlane) apiServerFlags(pki *pki, apiPort int) []string {
	args := []string{
		"--etcd-servers=" + cp.etcdURL,
		"--bind-address=" + cp.address,
		"--advertise-address=" + cp.address,
		"--secure-port=" + strconv.Itoa(apiPort),
		"--cert-dir=" + filepath.Join(cp.workDir, "apiserver-certs"), // unused: TLS files are given
		"--tls-cert-file=" + pki.path("apiserver.crt"),
		"--tls-private-key-file=" + pki.path("apiserver.key"),
		"--client-ca-file=" + pki.path("ca.crt"),
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range=" + cp.serviceCIDR,
		// Setting issuer + signing key enables the TokenRequest API
		// (`kubectl create token`), which needs no controller.
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki.path("sa.pub"),
		"--service-account-signing-key-file=" + pki.path("sa.key"),
		// Default admission plugins, minus ServiceAccount (as envtest does):
		// it rejects Pods until the `default` ServiceAccount exists, and only
		// kube-controller-manager (not run here) creates that.
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
	}
	if cp.node {
		// With kube-controller-manager creating ServiceAccounts, pods get their token.
		args = unsetFlag(args, "disable-admission-plugins")
		args = setFlag(args, "enable-admission-plugins", "ServiceAccount")
		// Reach kubelets by their node IP (logs, exec, port-forward).
		args = setFlag(args, "kubelet-preferred-address-types", "InternalIP")
		// The advertise address is the `kubernetes` Service's IP on the node's bridge, so the
		// default (lease) endpoint reconciler keeps the Service's endpoints pointing at it.
	} else {
		// A loopback address cannot be an endpoint: 1.37 refuses to start with it unless the
		// `kubernetes` Service's endpoints are left alone (older releases start and fail to
		// write them). Without a node nothing would use them; upstream's test server does the same.
		args = setFlag(args, "endpoint-reconciler-type", "none")
	}
	return append(args, cp.apiserverExtra...)
}

func (cp *controlPlane) startAPIServer(ctx context.Context) error {
	var err error
	cp.apiserver, err = startChild("kube-apiserver", filepath.Join(cp.binDir, "kube-apiserver"),
		filepath.Join(cp.workDir, "kube-apiserver.log"), cp.apiserverArgs...)
	if err != nil {
		return err
	}
	began := time.Now()
	if err := waitReady(ctx, cp.apiserver, cp.readyClient, cp.apiserverURL+"/readyz", cp.timeout); err != nil {
		return err
	}
	logf("kube-apiserver ready at %s after %.1fs", cp.apiserverURL, time.Since(began).Seconds())
	return nil
}

func (cp *controlPlane) restartAPIServer(ctx context.Context) error {
	cp.apiserver.stop(15 * time.Second)
	return cp.startAPIServer(ctx)
}

// teardown stops the apiserver before etcd, so the apiserver's own
// shutdown does not spend its grace period retrying a dead etcd.
func (cp *controlPlane) teardown() {
	// Controllers first, so nothing recreates the pods the node then stops.
	for _, c := range cp.controllers {
		c.stop(5 * time.Second)
	}
	if cp.node {
		cp.stopNode()
	}
	if cp.apiserver != nil {
		cp.apiserver.stop(10 * time.Second)
	}
	if cp.etcd != nil {
		cp.etcd.stop(10 * time.Second)
	}
	if cp.node {
		deleteBridge()
	}
}

// child is one managed process and the goroutine that reaps it.
type child struct {
	name, logPath string
	cmd           *exec.Cmd
	done          chan struct{} // closed once the process has exited
	err           error         // exit status; read only after done is closed
}

func startChild(name, bin, logPath string, args ...string) (*child, error) {
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child holds its own copy of the descriptor
	fmt.Fprintf(logFile, "==== %s: starting %s %s\n", time.Now().Format(time.RFC3339), bin, strings.Join(args, " "))

	c := &child{name: name, logPath: logPath, done: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	c.cmd.SysProcAttr = childSysProcAttr()
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	return c, nil
}

// firstExit returns a channel that yields the first of children (nil ones skipped) to exit.
func firstExit(children ...*child) <-chan *child {
	exited := make(chan *child, len(children))
	for _, c := range children {
		if c != nil {
			go func() { <-c.done; exited <- c }()
		}
	}
	return exited
}

// exitedError describes a child that exited although it should not have; c must have exited.
func exitedError(c *child) error {
	return fmt.Errorf("%s exited unexpectedly (%v); end of %s:\n%s", c.name, c.err, c.logPath, tail(c.logPath, 30))
}

// stop sends SIGTERM to the child's process group, then SIGKILL after grace.
func (c *child) stop(grace time.Duration) {
	select {
	case <-c.done:
		return
	default:
	}
	pgid := -c.cmd.Process.Pid // negative: the whole process group
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(grace):
		logf("%s did not exit within %v, killing it", c.name, grace)
		_ = syscall.Kill(pgid, syscall.SIGKILL)
		<-c.done
	}
}

// waitReady polls url until it answers 200, the child exits, ctx ends or
// the timeout passes. Errors carry the tail of the child's log.
func waitReady(ctx context.Context, c *child, client *http.Client, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	lastErr := errors.New("no answer yet")
	for {
		reqCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		req, _ := http.NewRequestWithContext(reqCtx, http.MethodGet, url, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				cancel()
				return nil
			}
			err = fmt.Errorf("HTTP %s", resp.Status)
		}
		cancel()
		lastErr = err
		select {
		case <-c.done:
			return fmt.Errorf("%s exited before becoming ready (%v); end of %s:\n%s", c.name, c.err, c.logPath, tail(c.logPath, 40))
		case <-ctx.Done():
			return fmt.Errorf("interrupted while waiting for %s", c.name)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v (last: %v); end of %s:\n%s", c.name, timeout, lastErr, c.logPath, tail(c.logPath, 40))
		}
	}
}

// freePorts returns n distinct ports that are free now, chosen below the
// kernel's ephemeral range: ports the kernel hands out (for ":0" listeners and
// for every outgoing connection's local end) come from that range, so a port
// chosen there could be taken by any client socket in the seconds before etcd
// or the apiserver binds it. Below 30000 also keeps clear of NodePorts.
func freePorts(n int) ([]int, error) {
	const low, high = 10000, 30000
	var ports []int
	// Hold every listener until all ports are chosen, so none repeats.
	var held []net.Listener
	defer func() {
		for _, l := range held {
			l.Close()
		}
	}()
	for tries := 0; len(ports) < n; tries++ {
		if tries == 1000 {
			return nil, fmt.Errorf("no free port between %d and %d after %d tries", low, high, tries)
		}
		port := low + rand.IntN(high-low)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		held = append(held, l)
		ports = append(ports, port)
	}
	return ports, nil
}

// httpClient returns a client that trusts the CA and presents the admin cert.
func (p *pki) httpClient() (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(p.path("admin.crt"), p.path("admin.key"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(p.ca)
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}},
		DisableKeepAlives: true, // each poll may hit a freshly restarted server
	}}, nil
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func ready(kubeconfig string) { fmt.Printf("READY %s\n", kubeconfig) }

// fail reports err on stderr in full and as one ERROR line on stdout, so a
// parent waiting for READY stops waiting; it returns the exit code.
func fail(err error) int {
	logf("error: %v", err)
	first, _, _ := strings.Cut(err.Error(), "\n")
	fmt.Printf("ERROR %s\n", first)
	return 1
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "controlplane: "+format+"\n", args...)
}

func fatalf(format string, args ...any) {
	logf(format, args...)
	os.Exit(2)
}
